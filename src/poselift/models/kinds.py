"""The names of the built-in model kinds, without importing any model (the CLI's choices and help).

:data:`poselift.models.registry.MODEL_KINDS` maps the same names to their classes (tested equal).
"""

BUILTIN_MODEL_KINDS = ("baseline", "consensus", "selfsup", "siamese", "temporal", "vvipe", "vvipe_vae")
