"""`sgm sample --prompts FILE [--devices N] [--num-nodes M]`: a prompt list, on one device or across processes.

Every line is checked first (`sgm.pipelines.prompt_lists`), so a bad line stops the run before any model loads.
Line i (0-based) writes `<output>/<i+1 as 000001>.png` (`-01`, `-02`, ... for several images), with the seed of its
line, so the outputs and their names do not depend on how many processes share the list. Across devices and
nodes the processes are Lightning Fabric's (`--devices`, `--num-nodes`; torchrun and SLURM launch them as they
launch training): the prompts still to write are dealt out round-robin, and rank 0 lists every output in order at
the end. Results appear by atomic renames, so a run restarted after a crash skips the lines already written.
"""

import argparse
import shutil
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

from sgm.core.errors import SgmError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("prompt lists")
    add = group.add_argument
    add("--prompts", type=Path, metavar="FILE", help="one generation per line: a prompt, or a JSON object with "
        "`prompt` and that line's options (seed, width, height, negative_prompt, steps, ...); outputs "
        "<output>/000001.png, ... in line order (default output: ./outputs/<model>/<list name>)")
    add("--devices", type=int, help="with --prompts: processes per node, each on its own device, through "
        "Lightning Fabric (CPU processes where there is no GPU)")
    add("--num-nodes", type=int, help="with --prompts: machines taking part (launch on each with torchrun or SLURM)")


def run(args: argparse.Namespace, base) -> int:
    """Runs the list `args.prompts` with the command's other options as each line's defaults."""
    from sgm.pipelines.prompt_lists import line_requests, read_prompt_list

    if args.prompts is None:
        raise SgmError("--devices and --num-nodes share out a prompt list: give it with --prompts FILE")
    if base.prompt:
        raise SgmError("give --prompt or --prompts, not both (a prompt list holds the prompts)")
    for name in ("devices", "num_nodes"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise SgmError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    output = args.output or Path("outputs") / base.model / args.prompts.stem
    requests = line_requests(read_prompt_list(args.prompts), base.replace(output=output), args.prompts)
    if args.devices is None and args.num_nodes is None:
        lost = run_share(requests, rank=0, world_size=1)
        return report(requests, lost)
    return _run_with_fabric(requests, args.devices or 1, args.num_nodes or 1, base.device)


def run_share(requests: list, rank: int, world_size: int, device: str | None = None) -> list[int]:
    """Writes rank `rank`'s share of the lines not yet written; returns the indexes of the lines it could not
    write (after a failure it stops and names them, with the failure, on stderr)."""
    from sgm.pipelines import PipelineCache

    waiting = [index for index, request in enumerate(requests) if not is_written(request.output, index)]
    share = waiting[rank::world_size]
    cache = PipelineCache()
    for position, index in enumerate(share):
        request = requests[index] if device is None else requests[index].replace(device=device)
        try:
            write_line(request, index, cache)
        except Exception as error:  # noqa: BLE001 -- reported with the lines it cost, then the run ends non-zero
            lost = share[position:]
            print(f"sgm: rank {rank} failed on prompt {index + 1} ({type(error).__name__}: {error}); prompts it "
                  f"did not write: {_numbers(lost)}", file=sys.stderr, flush=True)  # fmt: skip
            return lost
    return []


def stem(index: int) -> str:
    return f"{index + 1:06d}"


def is_written(folder: Path, index: int) -> bool:
    """Whether line `index` finished: its outputs are in place and no unfinished move of them is left over."""
    name = stem(index)
    if (folder / f".partial-{name}").exists():
        return False
    return any(folder.glob(f"{name}.*")) or any(folder.glob(f"{name}-*"))


def write_line(request, index: int, cache, generate: Callable | None = None) -> list[Path]:
    """Runs line `index` into a private folder, then renames its results to their names in the list's order
    (`000007.png`, or `000007-01.png`, `000007-02.png`, ...; a video's `.json` follows it); returns them."""
    from sgm.pipelines import run

    folder = Path(request.output)
    partial = folder / f".partial-{stem(index)}"
    shutil.rmtree(partial, ignore_errors=True)  # what a crashed run left of this line
    produced = (generate or run)(request.replace(output=partial), cache=cache)
    media = sorted(path for path in produced if path.suffix != ".json")
    final = []
    for number, path in enumerate(media, start=1):
        name = stem(index) + (f"-{number:02d}" if len(media) > 1 else "")
        final.append(_move(path, folder / f"{name}{path.suffix}"))
        sidecar = path.parent / f"{path.name}.json"
        if sidecar.exists():
            _move(sidecar, folder / f"{name}{path.suffix}.json")
    shutil.rmtree(partial)
    return final


def _move(source: Path, target: Path) -> Path:
    if target.is_dir():  # a frame folder of an unfinished earlier try
        shutil.rmtree(target)
    source.replace(target)
    return target


def report(requests: list, lost: list[int]) -> int:
    """Prints every output of the list in line order; with lost lines, says which and returns 1."""
    for index, request in enumerate(requests):
        folder = Path(request.output)
        for path in sorted([*folder.glob(f"{stem(index)}.*"), *folder.glob(f"{stem(index)}-*")]):
            if path.suffix != ".json":
                print(path)
    if lost:
        print(f"sgm: error: prompts not written: {_numbers(sorted(lost))}; run the same command again to write "
              f"them (the written ones are skipped)", file=sys.stderr)  # fmt: skip
        return 1
    return 0


def _numbers(indexes: list[int]) -> str:
    return ", ".join(str(index + 1) for index in indexes)


def _run_with_fabric(requests: list, devices: int, num_nodes: int, device: str | None) -> int:
    """Each Fabric process writes its share; the processes then pool which lines were lost, and rank 0 reports."""
    import __main__

    try:
        import torch
        from lightning.fabric import Fabric
    except ImportError:
        raise SgmError("--devices and --num-nodes need Lightning: pip install 'sgm-cli[multi-device]'") from None
    if getattr(__main__, "__spec__", None) is not None and __main__.__spec__.name == "__main__":
        # Run as a directory (`uv run apps/cli`): Fabric restarts `python -m __main__`, which finds nothing;
        # without a spec it restarts the script path instead.
        __main__.__spec__ = None
    accelerator = "cpu" if device is not None and device.startswith("cpu") else "auto"
    fabric = Fabric(accelerator=accelerator, devices=devices, num_nodes=num_nodes, strategy="ddp")
    fabric.launch()
    lost = run_share(requests, fabric.global_rank, fabric.world_size, str(fabric.device))
    mask = torch.zeros(len(requests), dtype=torch.uint8, device=fabric.device)
    mask[lost] = 1
    with warnings.catch_warnings():  # Lightning's own call into a torch function torch now calls deprecated
        warnings.filterwarnings("ignore", message=".*all_gather is deprecated")
        everywhere = fabric.all_gather(mask).reshape(-1, len(requests)).amax(0)
    if fabric.global_rank != 0:
        return 0 if not lost else 1
    return report(requests, everywhere.nonzero().flatten().tolist())
