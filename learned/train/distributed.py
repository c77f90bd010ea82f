"""Data-parallel training over several processes (torchrun): the process group and the collectives the
trainer needs.

    python -m torch.distributed.run --standalone --nproc_per_node=2 -m simengine train gns --data D --out RUN
    torchrun --nnodes=2 --node_rank=R --rdzv-backend=c10d --rdzv-endpoint=HOST:29500 --nproc_per_node=4 \\
        -m simengine train gns --data D --out RUN          # two machines sharing D and RUN

torchrun starts one process per rank with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT`` set; `World.from_env` reads them and `World.init` joins the process group when
``WORLD_SIZE`` > 1: gloo on the CPU, NCCL on CUDA (each process on ``cuda:LOCAL_RANK``). With one process
(no torchrun, or ``--nproc_per_node=1``) nothing here runs and training is the single-process code, bit for
bit.

How the trainer uses it (`learned.train.trainer`):

* one global batch of ``train.batch_size`` windows is drawn on every rank from the same seeded sampler;
  rank r takes windows r·b .. r·b + b - 1 (b = batch_size / world size; a batch size that does not divide
  is refused), and the training noise is drawn for the whole global batch and sliced
  (`learned.data.noise.particle_shard`), so every particle gets the noise it would get in one process;
* the loss goes through a `torch.nn.parallel.DistributedDataParallel` module's ``forward`` (the model's
  ``training_step`` as that module's forward), so the backward pass averages the gradients over ranks;
  each rank's loss is weighted by its share of the global loss terms (``logs["weight"]``, reduced over
  ranks), so the gradient is that of the global batch's mean loss, as in one process;
* running normalisers (`learned.nn.OnlineNormalizer`) add up their statistics over ranks
  (`learned.nn.normalizer.reduced_statistics`);
* rank 0 alone writes the run folder (config, metrics, checkpoints) and validates; ranks agree after every
  step on whether to stop (SIGINT/SIGTERM reaching any rank), and wait at a barrier until rank 0 has written
  ``last.pt`` before they stop; at every scheduled checkpoint the ranks check that they hold the same
  parameters (`check_same_parameters`);
* a model's ``logs["weight"]`` is the number of terms its loss averages (GNS, MeshGraphNets: the free
  particles' coordinates; TrajCast: the predicted displacement components; nclaw: the trajectories, where its
  skipping of a window identical to an earlier one is per rank); without it, the windows;
* a resumed run loads rank 0's checkpoint on every rank: the model, optimiser and generators are the same on
  all ranks, so it continues as the uninterrupted run. It may be resumed with another number of processes
  (same global batch; equal up to float rounding).

The run folder and the dataset must be visible to every process at the same path (one machine, or a shared
file system). Errors every rank meets alike (a bad setting, bad data) are reported by rank 0 only; the other
ranks exit with status 1 quietly (`PeerFailed` when rank 0 failed first).
"""
from __future__ import annotations

import datetime
import hashlib
import os
from dataclasses import dataclass

import torch

from simengine.errors import InputError

ENV_KEYS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
TIMEOUT = datetime.timedelta(minutes=60)


class PeerFailed(RuntimeError):
    """Another rank (rank 0) failed and reported why; this rank stops without a message of its own."""


class RanksDiverged(RuntimeError):
    """The ranks of a data-parallel run hold different parameters (gradients were not synchronised)."""


def _env_int(name: str, default: int | None) -> int | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise InputError(f"environment variable {name} = {value!r} is not an integer (torchrun sets it)") from None


@dataclass(frozen=True)
class World:
    """This process's place in a data-parallel run: ``rank`` of ``size`` processes, ``local_rank`` on its
    machine. ``World()`` is the single process."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> World:
        """From torchrun's ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` (absent: one process)."""
        size = _env_int("WORLD_SIZE", 1)
        rank = _env_int("RANK", 0)
        local = _env_int("LOCAL_RANK", rank)
        if size < 1 or not 0 <= rank < size or local < 0:
            raise InputError(f"RANK = {rank}, WORLD_SIZE = {size}, LOCAL_RANK = {local}: need WORLD_SIZE >= 1, "
                             f"0 <= RANK < WORLD_SIZE and LOCAL_RANK >= 0 (as torchrun sets them)")
        return cls(rank=rank, size=size, local_rank=local)

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def main(self) -> bool:
        """Rank 0: the process that writes files, validates and reports."""
        return self.rank == 0

    # ----- process group ---------------------------------------------------------------------------
    def device(self, requested, resolved: str) -> str:
        """This rank's device for ``train.device`` = ``requested`` (``resolved`` by
        `simengine.runtime.resolve_device`): with several processes, ``cuda`` means ``cuda:LOCAL_RANK``,
        and another explicit ``cuda:N`` is refused."""
        if not self.distributed or not resolved.startswith("cuda"):
            return resolved
        if requested not in (None, "cuda") and resolved != f"cuda:{self.local_rank}":
            raise InputError(f"train.device = {requested!r} names one GPU, but this is rank {self.rank} of "
                             f"{self.size} processes and each uses cuda:LOCAL_RANK; set train.device=cuda")
        count = torch.cuda.device_count()
        if self.local_rank >= count:
            raise InputError(f"LOCAL_RANK = {self.local_rank} but this machine has {count} GPU(s): start at most "
                             f"{count} processes per node (--nproc_per_node)")
        return f"cuda:{self.local_rank}"

    def init(self, device: torch.device) -> None:
        """Join the process group (gloo for the CPU, NCCL for CUDA) unless single or already joined."""
        if not self.distributed:
            return
        import torch.distributed as dist

        if dist.is_initialized():
            if dist.get_world_size() != self.size or dist.get_rank() != self.rank:
                raise InputError(f"a process group of {dist.get_world_size()} ranks (this one rank "
                                 f"{dist.get_rank()}) is already set up, but WORLD_SIZE = {self.size}, "
                                 f"RANK = {self.rank}")
            return
        missing = [k for k in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(k)]
        if missing:
            raise InputError(f"WORLD_SIZE = {self.size} but {' and '.join(missing)} unset: start the processes "
                             f"with torchrun (python -m torch.distributed.run)")
        # collectives wait up to TIMEOUT for a slow rank (rank 0 validating while the others wait)
        if device.type == "cuda":
            torch.cuda.set_device(device)
            dist.init_process_group("nccl", device_id=device, timeout=TIMEOUT)
        else:
            dist.init_process_group("gloo", timeout=TIMEOUT)

    # ----- collectives (no-ops for one process) ----------------------------------------------------
    def all_reduce(self, tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
        """Reduce ``tensor`` in place over the ranks (``op``: "sum" or "max") and return it."""
        if self.distributed:
            import torch.distributed as dist

            dist.all_reduce(tensor, op={"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX}[op])
        return tensor

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()

    def agree(self, error: BaseException | None, device="cpu") -> None:
        """Collective: re-raise this rank's ``error``; if only another rank failed, raise `PeerFailed`."""
        if not self.distributed:
            if error is not None:
                raise error
            return
        failed = self.all_reduce(torch.tensor([0 if error is None else 1], device=device), "max")
        if error is not None:
            raise error
        if int(failed.item()):
            raise PeerFailed("another rank failed (rank 0 reports why)")

    def rank_zero_first(self, first, then=None, device="cpu"):
        """Run ``first()`` on rank 0 while the others wait, then ``then()`` (default: ``first``) on the
        other ranks; a failure anywhere stops every rank (`agree`). Returns what this rank's call returned."""
        result = error = None
        if self.main:
            try:
                result = first()
            except Exception as exc:  # noqa: BLE001 - raised again by agree() below
                error = exc
        self.agree(error, device)
        if not self.main:
            try:
                result = (then or first)()
            except Exception as exc:  # noqa: BLE001
                error = exc
        self.agree(error, device)
        return result


def data_parallel(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``module`` wrapped in `torch.nn.parallel.DistributedDataParallel` (call it inside a joined process group).

    Buffers are not re-broadcast from rank 0 before every forward: the running normalisers' statistics are
    reduced over ranks (`learned.nn.normalizer.reduced_statistics`), so they stay equal everywhere, and a
    broadcast would be one more collective per step."""
    import inspect

    from torch.nn.parallel import DistributedDataParallel

    options = inspect.signature(DistributedDataParallel.__init__).parameters
    # torch >= 2.12 deprecates broadcast_buffers for forward_sync_buffers (both: no per-forward buffer sync)
    sync = {"forward_sync_buffers": False} if "forward_sync_buffers" in options else {"broadcast_buffers": False}
    return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None, **sync)


def parameters_digest(module: torch.nn.Module) -> int:
    """A 63-bit digest of the bytes of every parameter and buffer of ``module`` (in ``state_dict`` order)."""
    digest = hashlib.blake2b(digest_size=8)
    for name, value in module.state_dict().items():
        if torch.is_tensor(value):
            digest.update(name.encode())
            digest.update(value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return int.from_bytes(digest.digest(), "little") >> 1


def check_same_parameters(world: World, module: torch.nn.Module, step: int, device="cpu") -> None:
    """Collective: raise `RanksDiverged` unless every rank holds bit-identical parameters and buffers."""
    if not world.distributed:
        return
    value = parameters_digest(module)
    both = world.all_reduce(torch.tensor([value, -value], dtype=torch.int64, device=device), "max")
    if int(both[0]) != -int(both[1]):
        raise RanksDiverged(f"step {step}: the {world.size} ranks hold different parameters (rank {world.rank}: "
                            f"digest {value:016x}); the loss must go through the DistributedDataParallel "
                            f"module's forward() so that gradients are synchronised")


def shutdown() -> None:
    """Leave the process group if this process joined one (the CLI calls it on exit)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
