"""Per-joint statistics of the benchmark's simulated detector (the table in docs/benchmark.md).

    python benchmarks/benchmark_stats.py --data benchmark.npz
"""

import argparse

import numpy as np

from poselift.skeleton import H36M17


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="benchmark .npz (poselift data build)")
    args = parser.parse_args()
    with np.load(args.data) as data:
        error = np.linalg.norm(data["keypoints_2d_noisy"] - data["keypoints_2d_gt"], axis=-1)
        confidence = data["confidence_noisy"]
        print(f"benchmark {data['version']}")
    print("| joint | median px | mean px | confidence |\n|---|---|---|---|")
    for joint, name in enumerate(H36M17.joint_names):
        print(f"| {name} | {np.median(error[..., joint]):.1f} | {error[..., joint].mean():.1f} | "
              f"{confidence[..., joint].mean():.2f} |")
    for label, mask in (("< 5 px", error < 5), ("5-15 px", (error >= 5) & (error < 15)), ("> 30 px", error > 30)):
        print(f"mean confidence of joints with error {label}: {confidence[mask].mean():.2f}")


if __name__ == "__main__":
    main()
