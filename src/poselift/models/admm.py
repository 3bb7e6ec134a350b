"""Consensus of partial 3D poses (Cha et al., ECCV 2018, section 5): batched aggregation solvers.

Problem (Eqs. 7-8): ``G`` joint groups of ``n`` joints each; group ``j`` holds the joint indices
``g_j`` and a partial pose ``Xhat_j (n, 3)`` known only up to a translation (the group lifters
output centred poses). Find the whole pose ``X (J, 3)`` and one translation ``t_j (3,)`` per group:

    min_{X, t_j}  sum_j  || X[g_j] - Xhat_j - 1 t_j^T ||

with one of three norms (:data:`AGGREGATIONS`):

- ``"l21"``: the l2,1 norm, the sum over the group's joints of the Euclidean length of each joint's
  residual row (Eq. 8): a robust, rotation-invariant, median-like consensus (the paper's choice);
- ``"l1"``: the elementwise l1 norm (Eq. 7), each coordinate on its own;
- ``"l2"``: the squared Frobenius norm, plain least squares, solved in closed form.

Stacked (Eq. 9) the residual is ``M Z - F`` with ``Z = [X; t] (J + G, 3)``, ``M = [E, I (x) 1]``
``(G n, J + G)`` and ``F (G n, 3)`` the partial poses' joints one per row. The solution is defined
up to one global translation (``X + c``, ``t_j - c``); it is returned root-centred (root joint at
the origin).

Least squares, precomputed ONCE per group layout (buffers of :class:`ConsensusSolver`) from one SVD
of ``M`` (which also checks that the groups overlap into one connected set, ``rank M = J + G - 1``):
``K`` = the first ``J`` rows of ``M^+`` ``(J, G n)``, so ``X = K V`` is a least-squares solution for
rows ``V``; for a given ``X`` the best ``t_j`` is the group mean of ``V_j - X[g_j]``, so the fitted
rows are ``M Z = C X + mean_j(V_j)`` with ``C (G n, J)`` picking each group's joints and centring
them. A least-squares step is two thin matrix products (``J`` columns) and a group mean. The solver
stores rows slot-major (row ``k G + j`` = joint ``k`` of group ``j``), so the group means are sums of
``n`` contiguous slices.

ADMM (Eq. 11; auxiliary ``N = M Z - F``, scaled dual ``U``, penalty ``rho``), per iteration::

    Z <- least-squares fit of F + N - U
    N <- soft-threshold(M Z - F + U, 1 / rho)    row-wise for l2,1 (each joint's 3-vector), elementwise for l1
    U <- U + M Z - F - N

implemented through the single state ``S = M Z - F + U`` (the Douglas-Rachford form of the same
iteration): ``N = prox(S)``, ``D = S - 2 N``, ``M Z - F = R0 - P D`` (``P D`` = the fitted rows of
the least-squares fit of ``D``, ``R0`` = the residual of the least-squares start) and
``S <- S + alpha (M Z - F - N)`` with the over-relaxation ``alpha`` (1 = plain ADMM; 1.6 needs
fewer iterations). ``M Z - F - N`` is the primal residual; a pose has converged when its RMS is at
most ``tolerance`` times the RMS of its (group-centred) partial poses, and a batch stops when every
pose has, or after ``max_iterations``. The returned ``X`` is the last least-squares iterate,
``X = K F - K D``. The primal residual never increases from one iteration to the next (the
iteration is an averaged non-expansive map of ``S``); the objective usually decreases but may rise
by a few per cent in early iterations, as ADMM does not promise monotone objective values.

Units: the penalty is set per pose, ``1 / rho = s / rho_scale`` with ``s`` the RMS of the pose's
least-squares residual rows (``s / (4 rho_scale)`` for l1), so the same settings serve any unit.
On the CPU, batches are solved in blocks of ``block_size`` poses (a block's work arrays then stay
in the cache, ~2x faster than one pass over 4096 poses), each block stopping on its own; on a GPU
the whole batch is one block. The work arrays are reused across iterations.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from poselift.errors import PoseliftError, ShapeError
from poselift.skeleton import H36M17

AGGREGATIONS = ("l21", "l2", "l1")
# The l1 prox shrinks every coordinate on its own and converges in fewest iterations with a smaller
# threshold than l2,1's: 1 / rho = s / (4 rho_scale) for l1 (measured on partial poses of trained and
# synthetic lifters, 64 groups: 40-90 iterations instead of 63-175 with the l2,1 setting).
_L1_PENALTY_FACTOR = 4.0
# Floor of lengths and scales divided by (in the input's unit): a pose whose partial poses agree
# exactly has a zero least-squares residual.
_TINY = 1e-12


@dataclass
class AggregationResult:
    """What :meth:`ConsensusSolver.aggregate` returns.

    poses_3d: ``(B, J, 3)`` whole poses, root-centred, in the unit of the partial poses (mm here).
    iterations: ADMM iterations run (the most of any block; 0 for ``"l2"``).
    converged: ``(B,)`` bool, each pose met the tolerance (always True for ``"l2"``).
    objective_history: ``(iterations + 1, B)`` the objective of each least-squares iterate, row 0 =
        the least-squares start. ADMM does not promise that it never increases (it can, by a few
        per cent, in early iterations); it converges to the minimum.
    residual_history: ``(iterations, B)`` RMS primal residual ``M Z - F - N`` of each iteration,
        which never increases (the iteration is an averaged non-expansive map of its state).
    Both histories only with ``record_objective=True`` (else None); a block of poses that stopped
    early repeats its last values.
    """

    poses_3d: Tensor
    iterations: int
    converged: Tensor
    objective_history: Tensor | None = None
    residual_history: Tensor | None = None


def check_groups(groups, num_joints: int) -> Tensor:
    """Joint groups as a ``(G, n)`` long tensor, checked (ragged, out of range, repeats, coverage).

    Args:
        groups: ``G`` lists of ``n`` joint indices each (every group the same size), or a tensor.
        num_joints: J.

    Raises:
        PoseliftError: groups of different sizes, an index outside ``0..J-1``, a joint twice in
            one group, or a joint in no group. (:func:`consensus_operators` also refuses groups
            that do not overlap into one connected set.)
    """
    try:
        group_index = torch.as_tensor(groups, dtype=torch.long)
    except (TypeError, ValueError, RuntimeError) as error:
        raise PoseliftError(f"joint groups must be equally long lists of joint indices: {error}") from None
    if group_index.ndim != 2 or group_index.shape[0] == 0 or group_index.shape[1] == 0:
        raise ShapeError(f"joint groups: expected shape (G, n) with G, n >= 1, got {tuple(group_index.shape)}")
    if bool(((group_index < 0) | (group_index >= num_joints)).any()):
        raise PoseliftError(f"joint groups: indices must be in 0..{num_joints - 1}, got {group_index.tolist()}")
    ordered = group_index.sort(dim=1).values
    repeated = (ordered[:, 1:] == ordered[:, :-1]).any(dim=1)
    if bool(repeated.any()):
        first = int(torch.nonzero(repeated)[0])
        raise PoseliftError(f"joint group {first} {group_index[first].tolist()} holds a joint twice")
    coverage = torch.bincount(group_index.flatten(), minlength=num_joints)
    if bool((coverage == 0).any()):
        missing = torch.nonzero(coverage == 0).flatten().tolist()
        raise PoseliftError(f"joint groups: joint(s) {missing} are in no group, so they cannot be aggregated")
    return group_index


def stacking_matrix(group_index: Tensor, num_joints: int) -> Tensor:
    """``M = [E, I (x) 1]`` ``(G n, J + G)`` float64 of Eq. (9).

    Row ``j n + k`` (joint ``k`` of group ``j``) picks joint ``g_jk`` of ``X`` and translation ``t_j``.
    """
    num_groups, group_size = group_index.shape
    row = torch.arange(num_groups * group_size)
    stacking = torch.zeros(num_groups * group_size, num_joints + num_groups, dtype=torch.float64)
    stacking[row, group_index.flatten()] = 1.0
    stacking[row, num_joints + row // group_size] = 1.0
    return stacking


def consensus_operators(group_index: Tensor, num_joints: int) -> tuple[Tensor, Tensor]:
    """``(K (J, G n), C (G n, J))`` float64 in the solver's slot-major row order (module docstring).

    Raises:
        PoseliftError: the groups do not overlap into one connected set, so the translations
            between the parts are undetermined (``rank M < J + G - 1``).
    """
    num_groups, group_size = group_index.shape
    stacking = stacking_matrix(group_index, num_joints)
    left, singular, right_t = torch.linalg.svd(stacking, full_matrices=False)
    rank = int((singular > singular[0] * 1e-10).sum())
    expected = stacking.shape[1] - 1
    if rank != expected:
        raise PoseliftError(f"joint groups do not overlap into one connected set ({expected + 1 - rank} separate "
                            "parts): the translations between the parts are undetermined")
    pseudo_inverse = right_t[:rank].T @ torch.diag(1.0 / singular[:rank]) @ left[:, :rank].T
    slot_major = torch.arange(num_groups * group_size).view(num_groups, group_size).T.flatten()  # k G + j -> j n + k
    gather = stacking[:, :num_joints].view(num_groups, group_size, num_joints)
    centred_gather = (gather - gather.mean(dim=1, keepdim=True)).reshape(-1, num_joints)
    return pseudo_inverse[:num_joints, slot_major].contiguous(), centred_gather[slot_major].contiguous()


def row_norms(rows: Tensor) -> Tensor:
    """Euclidean length of each row of coordinate-major rows ``(B, 3, R)``: ``(B, R)``.

    Written out per coordinate: ``Tensor.norm(dim=1)`` over the short middle axis is ~20x slower on CPU.
    """
    x, y, z = rows.unbind(dim=1)
    return torch.sqrt(x * x + y * y + z * z)


def objective(residual_rows: Tensor, norm: str) -> Tensor:
    """Objective ``(B,)`` of residual rows ``(B, 3, R)``: l2,1, l1 or (for "l2") the squared Frobenius norm."""
    if norm == "l21":
        return row_norms(residual_rows).sum(dim=-1)
    if norm == "l1":
        return residual_rows.abs().sum(dim=(1, 2))
    return residual_rows.square().sum(dim=(1, 2))


class ConsensusSolver(nn.Module):
    """Batched aggregation of partial poses for one fixed group layout (see the module docstring).

    The least-squares operators are computed once, here, and kept as non-persistent buffers: they
    follow the module to its device and are rebuilt from the groups, never read from a checkpoint.

    Args:
        groups: ``G`` lists of ``n`` joint indices (:func:`check_groups`); must overlap into one
            connected set.
        num_joints: J. root_index: the joint placed at the origin in the output.
        max_iterations: ADMM iteration cap.
        tolerance: relative stopping tolerance on the RMS primal residual.
        rho_scale: the unit-free ADMM penalty: ``1 / rho = s / rho_scale``, ``s`` = the pose's
            RMS least-squares residual (a 4x larger penalty for l1).
        relaxation: over-relaxation ``alpha`` in (0, 2); 1 = plain ADMM.
        block_size: poses solved together on the CPU (see the module docstring).
    """

    def __init__(self, groups, num_joints: int = 17, root_index: int = H36M17.root_index, max_iterations: int = 100,
                 tolerance: float = 1e-3, rho_scale: float = 1.0, relaxation: float = 1.6,
                 block_size: int = 128):
        super().__init__()
        if not 0 <= root_index < num_joints:
            raise ShapeError(f"root_index {root_index} is outside 0..{num_joints - 1}")
        if max_iterations < 0 or not tolerance >= 0 or not rho_scale > 0 or not 0 < relaxation < 2 \
                or block_size < 1:
            raise PoseliftError("ADMM settings: need max_iterations >= 0, tolerance >= 0, rho_scale > 0, "
                                f"0 < relaxation < 2, block_size >= 1; got {max_iterations}, {tolerance}, "
                                f"{rho_scale}, {relaxation}, {block_size}")
        group_index = check_groups(groups, num_joints)
        joint_operator, centred_gather = consensus_operators(group_index, num_joints)
        self.num_joints, self.root_index = num_joints, root_index
        self.num_groups, self.group_size = group_index.shape
        self.max_iterations, self.tolerance, self.rho_scale = max_iterations, tolerance, rho_scale
        self.relaxation, self.block_size = relaxation, block_size
        self.register_buffer("group_index", group_index, persistent=False)
        # float64 masters, cast once per call to the input's dtype (float64 inputs keep full accuracy)
        self.register_buffer("joint_operator", joint_operator, persistent=False)    # K (J, G n)
        self.register_buffer("centred_gather", centred_gather, persistent=False)   # C (G n, J)

    # ------------------------------------------------------------------------------ layouts
    def _to_rows(self, partial_poses: Tensor) -> Tensor:
        """``(B, G, n, 3)`` -> ``(B, 3, n G)`` coordinate-major, slot-major rows (the working layout)."""
        expected = (self.num_groups, self.group_size, 3)
        if partial_poses.ndim != 4 or tuple(partial_poses.shape[1:]) != expected:
            raise ShapeError(f"partial poses: expected shape (B, {', '.join(map(str, expected))}), "
                             f"got {tuple(partial_poses.shape)}")
        rows = self.group_size * self.num_groups
        return partial_poses.permute(0, 3, 2, 1).reshape(partial_poses.shape[0], 3, rows).contiguous()

    def _from_rows(self, rows: Tensor) -> Tensor:
        """Inverse of :meth:`_to_rows`: ``(B, 3, n G)`` -> ``(B, G, n, 3)``."""
        return rows.view(rows.shape[0], 3, self.group_size, self.num_groups).permute(0, 3, 2, 1)

    def _root_centred(self, joints: Tensor) -> Tensor:
        """``(B, 3, J)`` -> ``(B, J, 3)`` with the root at the origin."""
        return (joints - joints[:, :, self.root_index : self.root_index + 1]).transpose(1, 2)

    def _operators(self, like: Tensor) -> tuple[Tensor, Tensor]:
        """``(K, C)`` in the dtype of ``like``."""
        return self.joint_operator.to(like.dtype), self.centred_gather.to(like.dtype)

    def _fit(self, rows: Tensor, operators: tuple[Tensor, Tensor], out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Least squares for rows ``V (b, 3, n G)``: ``X = K V`` ``(b, 3, J)`` (any translation) and
        the fitted rows ``M Z = C X + group means of V`` ``(b, 3, n G)`` (written into ``out`` if given)."""
        joint_operator, centred_gather = operators
        flat = rows.view(-1, rows.shape[-1])
        joints = flat @ joint_operator.T                                          # (3b, J)
        fitted = torch.mm(joints, centred_gather.T, out=None if out is None else out.view_as(flat))
        by_slot = (-1, self.group_size, self.num_groups)
        fitted.view(by_slot).add_(flat.view(by_slot).mean(dim=1, keepdim=True))
        return joints.view(rows.shape[0], 3, self.num_joints), fitted.view_as(rows)

    # ------------------------------------------------------------------------------ solvers
    def least_squares(self, partial_poses: Tensor) -> Tensor:
        """The l2 consensus in closed form (differentiable): ``(B, G, n, 3)`` -> ``(B, J, 3)`` root-centred."""
        rows = self._to_rows(partial_poses)
        joint_operator = self._operators(rows)[0]
        joints = (rows.view(-1, rows.shape[-1]) @ joint_operator.T).view(rows.shape[0], 3, self.num_joints)
        return self._root_centred(joints)

    def least_squares_residual(self, partial_poses: Tensor) -> Tensor:
        """``(B, G, n, 3)`` residual of the l2 consensus, differentiable: ``W_j X[g_j] + mean_j - Xhat_j``.

        Row ``(j, k)`` is the fitted joint ``X[g_jk] - t_j`` minus the partial pose's joint, with
        ``X``, ``t`` the least-squares solution; its squared sum is ``min_{X,t} sum_j ||X[g_j] - Xhat_j
        - 1 t_j^T||_F^2``, the distance of the partial poses from agreeing with one whole pose.
        """
        rows = self._to_rows(partial_poses)
        return self._from_rows(self._fit(rows, self._operators(rows))[1] - rows)

    def aggregate(self, partial_poses: Tensor, norm: str = "l21", record_objective: bool = False,
                  max_iterations: int | None = None) -> AggregationResult:
        """Aggregate partial poses with ``norm`` (``"l21"``, ``"l1"`` by ADMM; ``"l2"`` in closed form).

        Args:
            partial_poses: ``(B, G, n, 3)``, group ``j``'s joints in the order of ``groups[j]``
                (any translation per group; mm in poselift).
            norm: one of :data:`AGGREGATIONS`.
            record_objective: also return the objective of every iterate (slower; for diagnostics).
            max_iterations: this call's iteration cap instead of the solver's.

        Returns:
            :class:`AggregationResult`; ``poses_3d (B, J, 3)`` root-centred, in the input's unit,
            dtype and device. ADMM runs without autograd (:meth:`least_squares` is differentiable).
        """
        if norm not in AGGREGATIONS:
            raise PoseliftError(f"unknown aggregation {norm!r}; use one of {', '.join(AGGREGATIONS)}")
        rows = self._to_rows(partial_poses)
        batch = rows.shape[0]
        cap = self.max_iterations if max_iterations is None else max_iterations
        operators = self._operators(rows)
        if norm == "l2" or batch == 0 or cap == 0:
            joints, fitted = self._fit(rows, operators)
            histories = (objective(fitted - rows, norm)[None], rows.new_zeros(0, batch)) if record_objective \
                else (None, None)
            converged = torch.full((batch,), norm == "l2", dtype=torch.bool, device=rows.device)
            return AggregationResult(self._root_centred(joints), 0, converged, *histories)
        block_size = self.block_size if rows.device.type == "cpu" else batch    # blocks help CPU caches only
        with torch.no_grad():
            blocks = [self._admm(rows[start : start + block_size], operators, norm, cap, record_objective)
                      for start in range(0, batch, block_size)]
        iterations = max(block[1] for block in blocks)
        histories = [None, None]
        if record_objective:   # a block that stopped early repeats its last values
            for index, length in ((3, iterations + 1), (4, iterations)):
                histories[index - 3] = torch.cat([
                    torch.cat([block[index], block[index][-1:].expand(length - len(block[index]), -1)])
                    for block in blocks], dim=1)
        return AggregationResult(self._root_centred(torch.cat([block[0] for block in blocks])), iterations,
                                 torch.cat([block[2] for block in blocks]), *histories)

    def _admm(self, rows: Tensor, operators: tuple[Tensor, Tensor], norm: str, cap: int, record_objective: bool):
        """ADMM on one block ``rows (b, 3, n G)`` (see the module docstring).

        Returns ``(joints (b, 3, J), iterations, converged (b,), objective history (iterations + 1, b),
        primal residual history (iterations, b))``, the histories None unless ``record_objective``.
        """
        batch, count = rows.shape[0], rows.shape[1] * rows.shape[2]
        rms = lambda values: torch.linalg.vector_norm(values, dim=(1, 2)).div_(count ** 0.5)  # noqa: E731 (b,)
        by_slot = rows.view(batch, 3, self.group_size, self.num_groups)
        scale = rms((by_slot - by_slot.mean(dim=2, keepdim=True)).view_as(rows)).clamp_(min=_TINY)
        start_joints, fitted = self._fit(rows, operators)
        start_residual = fitted.sub_(rows)                        # R0 = M Z0 - F, N = U = 0
        penalty = self.rho_scale * (_L1_PENALTY_FACTOR if norm == "l1" else 1.0)
        threshold = (rms(start_residual).clamp_(min=_TINY) / penalty)[:, None]         # (b, 1) = 1 / rho
        tolerance = self.tolerance * scale
        history = [objective(start_residual, norm)] if record_objective else None
        residuals: list[Tensor] = []
        state = start_residual.clone()                                     # S = M Z - F + U
        slack, direction, step = torch.empty_like(rows), torch.empty_like(rows), torch.empty_like(rows)
        lengths = rows.new_empty(batch, rows.shape[-1])
        converged = torch.zeros(batch, dtype=torch.bool, device=rows.device)
        iteration = 0
        while iteration < cap:
            self._soft_threshold(state, threshold, norm, slack, lengths)  # N = prox(S)
            torch.add(state, slack, alpha=-2.0, out=direction)            # D = S - 2 N
            joint_step, _ = self._fit(direction, operators, out=step)
            torch.sub(start_residual, step, out=step)                     # M Z - F
            iteration += 1
            if history is not None:
                history.append(objective(step, norm))
            step.sub_(slack)                                               # primal residual
            state.add_(step, alpha=self.relaxation)
            primal = rms(step)
            if history is not None:
                residuals.append(primal)
            converged = primal <= tolerance
            if bool(converged.all()):
                break
        joints = start_joints - joint_step if iteration else start_joints
        if history is None:
            return joints, iteration, converged, None, None
        return joints, iteration, converged, torch.stack(history), torch.stack(residuals)

    @staticmethod
    def _soft_threshold(values: Tensor, threshold: Tensor, norm: str, out: Tensor, lengths: Tensor) -> None:
        """``out = prox`` of ``threshold * norm`` at ``values (b, 3, R)``; ``threshold (b, 1)``.

        l2,1: each row (one joint of one group, a 3-vector) is shortened by ``threshold`` (rows
        shorter than that become 0); l1: each coordinate moves ``threshold`` towards 0.
        ``lengths (b, R)`` is scratch space.
        """
        if norm == "l1":
            torch.clamp(values, min=-threshold[..., None], max=threshold[..., None], out=out)
            torch.sub(values, out, out=out)
            return
        x, y, z = values.unbind(dim=1)
        torch.mul(x, x, out=lengths).addcmul_(y, y).addcmul_(z, z).sqrt_().clamp_(min=_TINY)
        shrink = lengths.reciprocal_().mul_(threshold).neg_().add_(1.0).clamp_(min=0.0)   # 1 - t / |row|
        for coordinate, shrunk in zip(values.unbind(dim=1), out.unbind(dim=1)):   # 3 contiguous slices:
            torch.mul(coordinate, shrink, out=shrunk)                          # faster than a broadcast

    def forward(self, partial_poses: Tensor, norm: str = "l21") -> Tensor:
        """``(B, G, n, 3)`` partial poses -> ``(B, J, 3)`` root-centred consensus pose."""
        return self.aggregate(partial_poses, norm).poses_3d
