"""Retrieval: exact batched nearest neighbours, index files, and the ``poselift index`` / ``poselift retrieve``
commands end to end. (The Hit@k protocol is tested in test_hit_at_k_protocol.py.)"""

import json

import numpy as np
import pytest
import torch

from poselift.checkpoint import save_checkpoint
from poselift.data.datasets import FrameSource
from poselift.errors import FormatError, PoseliftError
from poselift.io.poselift_format import write_keypoints_2d, write_poses_3d
from poselift.io.records import Keypoints2D, Poses3D
from poselift.models.backbone import apply_max_norm
from poselift.models.vvipe import PoseVae, PoseVaeConfig, VvipeConfig, VvipeLifter
from poselift.recipes import new_model
from poselift.retrieval import EmbeddingIndex, load_index, nearest_neighbors
from poselift.skeleton import H36M17


# ---------------------------------------------------------------------------------------------- search


def test_nearest_neighbours_match_brute_force_across_chunks():
    generator = torch.Generator().manual_seed(0)
    index = torch.randn(1000, 8, generator=generator, dtype=torch.float64)
    queries = torch.randn(50, 8, generator=generator, dtype=torch.float64)
    distances, indices = nearest_neighbors(queries, index, k=7, query_chunk=16, index_chunk=100)
    expected_distances, expected_indices = torch.cdist(queries, index).topk(7, dim=1, largest=False)
    assert torch.equal(indices, expected_indices)
    assert torch.allclose(distances, expected_distances, atol=1e-9)
    # chunks smaller than k, numpy in -> numpy out, k beyond the index
    small_distances, small_indices = nearest_neighbors(queries[:3].numpy(), index[:5].numpy(), k=9, index_chunk=2)
    assert isinstance(small_indices, np.ndarray) and small_indices.shape == (3, 5)
    assert np.array_equal(small_indices, torch.cdist(queries[:3], index[:5]).argsort(dim=1).numpy())
    # an entry equal to the query is found at distance 0
    zero_distance, zero_index = nearest_neighbors(index[[42]], index, k=1)
    assert zero_index.item() == 42 and zero_distance.item() < 1e-6
    with pytest.raises(PoseliftError, match=r"\(Q, D\)"):
        nearest_neighbors(queries[:, :4], index, k=1)


# ---------------------------------------------------------------------------------------------- index files


def test_index_round_trip_and_bad_files(tmp_path):
    index = EmbeddingIndex(np.arange(12, dtype=np.float32).reshape(4, 3), [0, 0, 1, 1], [0, 5, 2, 3],
                           ("a.npz", "b.json"), ("3d", "2d"), "model.pt")
    path = index.save(tmp_path / "index.npz")
    loaded = load_index(path)
    assert np.array_equal(loaded.embeddings, index.embeddings) and loaded.frame.tolist() == [0, 5, 2, 3]
    assert loaded.source_files == ("a.npz", "b.json") and loaded.source_kinds == ("3d", "2d")
    assert loaded.model == "model.pt" and len(loaded) == 4
    assert [p.name for p in tmp_path.iterdir()] == ["index.npz"]         # no temporary file left behind
    np.savez(tmp_path / "other.npz", embeddings=np.zeros((2, 3)))
    with pytest.raises(FormatError, match="other.npz.*not a poselift embedding index"):
        load_index(tmp_path / "other.npz")
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    with pytest.raises(FormatError, match="broken.npz"):
        load_index(tmp_path / "broken.npz")
    with pytest.raises(FormatError, match="missing.npz"):
        load_index(tmp_path / "missing.npz")
    with pytest.raises(PoseliftError, match="non-finite"):
        EmbeddingIndex(np.full((2, 3), np.nan, np.float32), [0, 0], [0, 1], ("a",), ("3d",), "")


# ---------------------------------------------------------------------------------------------- commands


@pytest.fixture(scope="module")
def vvipe_checkpoint(small_benchmark, tmp_path_factory):
    """An untrained but fitted small stage-2 checkpoint (embeddings are deterministic all the same)."""
    folder = tmp_path_factory.mktemp("vvipe_model")
    frames = FrameSource(small_benchmark, "train", "gt", frame_stride=20)
    torch.manual_seed(0)
    vae = PoseVae(PoseVaeConfig(hidden_size=32, num_blocks=1, latent_size=6))
    vae.normalizer.fit_source(frames)
    apply_max_norm(vae, 1.0)                                            # as training leaves it
    save_checkpoint(folder / "vae.pt", model=vae)
    model = new_model(VvipeLifter, VvipeConfig(pose_vae_checkpoint=str(folder / "vae.pt"), hidden_size=32,
                                            num_blocks=1))
    model.normalizer.fit_source(frames)
    return save_checkpoint(folder / "vvipe.pt", model=model)


def run_command(*argv):
    """``poselift ARGV`` in-process; a PoseliftError propagates (not turned into exit status 2)."""
    from poselift.cli import build_parser

    args = build_parser().parse_args([str(arg) for arg in argv])
    args.handler(args)


def test_index_and_retrieve_commands(small_benchmark, vvipe_checkpoint, tmp_path, capsys):
    batch = FrameSource(small_benchmark, "test", "gt", cameras=(1,), frame_stride=7).batch(torch.arange(30))
    poses_file, keypoints_file = tmp_path / "poses.npz", tmp_path / "keypoints.json"
    write_poses_3d(poses_file, Poses3D(batch["poses_3d"].numpy(), H36M17.joint_names, "camera", layout="h36m17"))
    keypoints = batch["keypoints_2d"].numpy().copy()
    keypoints[4, 0] = np.nan                                            # a frame without its root
    confidence = np.where(np.isnan(keypoints).any(-1), 0.0, 1.0).astype(np.float32)
    write_keypoints_2d(keypoints_file, Keypoints2D(keypoints, confidence, "h36m17", image_size=(1000, 1000)))

    index_file = tmp_path / "index.npz"
    run_command("index", poses_file, keypoints_file, "--model", vvipe_checkpoint, "--out", index_file)
    printed = capsys.readouterr().out
    assert "poses.npz: 3D, 30 frames indexed" in printed and "keypoints.json: 2D, 29 frames indexed, 1 skipped" in printed
    index = load_index(index_file)
    assert len(index) == 59 and index.source_kinds == ("3d", "2d") and index.model == str(vvipe_checkpoint)

    # a 3D query finds its own frame of the 3D file at distance 0
    query_file = tmp_path / "query.npz"
    write_poses_3d(query_file, Poses3D(batch["poses_3d"][[12]].numpy() @ np.diag([1.0, -1.0, -1.0]).astype(np.float32),
                                       H36M17.joint_names, "world", layout="h36m17"))      # any rotation
    results_file = tmp_path / "results.json"
    run_command("retrieve", query_file, "--index", index_file, "-k", "3", "--out", results_file, "--device", "cpu")
    printed = capsys.readouterr().out
    assert "query frame 0:" in printed and "3 nearest" in printed
    results = json.loads(results_file.read_text())["results"]
    best = results[0]["neighbours"][0]
    assert best["file"].endswith("poses.npz") and best["frame"] == 12 and best["distance"] < 1e-4
    assert [neighbour["rank"] for neighbour in results[0]["neighbours"]] == [1, 2, 3]

    # a 2D query (every frame of the file) finds each frame among the 2D entries at distance 0
    npz_results = tmp_path / "results.npz"
    run_command("retrieve", keypoints_file, "--index", index_file, "-k", "1", "--out", npz_results)
    saved = np.load(npz_results)
    assert saved["query_frame"].tolist() == [frame for frame in range(30) if frame != 4]
    assert saved["frame"][:, 0].tolist() == saved["query_frame"].tolist() and float(saved["distance"].max()) < 1e-5
    assert all(name.endswith("keypoints.json") for name in saved["source_file"][:, 0])

    with pytest.raises(PoseliftError, match="outside its 30 frames"):
        run_command("retrieve", poses_file, "--index", index_file, "--frame", "30")
    with pytest.raises(PoseliftError, match="file exists"):
        run_command("retrieve", poses_file, "--index", index_file, "--out", results_file)
    not_poses = tmp_path / "notes.json"
    not_poses.write_text(json.dumps({"hello": 1}))
    with pytest.raises(FormatError, match="notes.json: not a pose file"):
        run_command("retrieve", not_poses, "--index", index_file)
