"""FLUX 3 clip renders: CPU time, wall time and peak RSS of each case, each in a fresh process (so the peak is
the render's own plus the imports', not left over from another case). Part of ``make bench``.

    python scripts/bench_video.py            # the three documented cases
    python scripts/bench_video.py --largest  # also the largest clip the schema allows (20 s uhd 21:9)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = {  # name -> (resolution, aspect ratio, seconds, draft)
    "5 s hd 16:9": ("hd", "16:9", 5, False),
    "20 s fhd 16:9": ("fhd", "16:9", 20, False),
    "5 s draft (360p)": ("hd", "16:9", 5, True),
}
LARGEST = {"20 s uhd 21:9": ("uhd", "21:9", 20, False)}


def child(name: str) -> None:
    import resource
    import time

    from mock_server.core import video

    resolution, ratio, seconds, draft = {**CASES, **LARGEST}[name]
    w, h = video.frame_size(resolution, ratio)
    if draft:
        scale = video.DRAFT_SHORT_SIDE / min(w, h)
        w, h = video.even(w * scale), video.even(h * scale)
    clip = video.Clip(w, h, seconds, prompt="a red fox in the snow", seed=7, label=name)
    cpu, wall = time.process_time(), time.perf_counter()
    data = video.render(clip)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"size": f"{w}x{h}", "cpu_s": cpu, "wall_s": wall, "rss_mb": rss, "mb": len(data) / 1e6}))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--largest", action="store_true", help="also the largest clip (20 s uhd 21:9: ~13 s of CPU)")
    args = p.parse_args(argv)
    if args.child:
        child(args.child)
        return 0
    names = [*CASES, *(LARGEST if args.largest else {})]
    print("| clip | pixels | CPU s | wall s | peak RSS MB | file MB |\n|---|---|---|---|---|---|")
    for name in names:
        out = subprocess.run(
            [sys.executable, __file__, "--child", name], capture_output=True, text=True, check=True, cwd=ROOT
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"| {name} | {r['size']} | {r['cpu_s']:.2f} | {r['wall_s']:.2f} | {r['rss_mb']:.0f} | {r['mb']:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
