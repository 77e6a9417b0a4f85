"""Which device a job uses, and how much device memory it has (the seed's GPU memory mixin).

A job uses a GPU only when it was given one: the scheduler (or the user) sets
``CUDA_VISIBLE_DEVICES`` (NVIDIA) or ``HIP_VISIBLE_DEVICES`` (AMD ROCm) to the device(s) of
the job, and the backend must be able to use it. Otherwise the job runs on the CPU and
says why, so a result file always tells which device produced it. This module imports no
ML framework; the wrappers pass in a probe for their own backend.
"""

import logging
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass

log = logging.getLogger(__name__)

GPU_ENV_VARS = ("CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES")
DEVICE_CHOICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class DeviceChoice:
    """The device a wrapper trained on and why (``note``); JSON-ready via ``as_dict``."""

    requested: str
    device: str
    fallback_to_cpu: bool
    note: str

    def as_dict(self):
        return asdict(self)


def assigned_gpus(environ=None):
    """(variable, [device ids]) of the GPUs this job was given; (None, []) when none is set.

    An unset, empty or negative value ("-1" hides every device) means no GPU.
    """
    env = os.environ if environ is None else environ
    for var in GPU_ENV_VARS:
        value = env.get(var)
        if value is None:
            continue
        ids = [v.strip() for v in value.split(",") if v.strip()]
        if not ids or ids[0].startswith("-"):
            return var, []
        return var, ids
    return None, []


def resolve_device(requested, probe, environ=None):
    """Choose 'cuda' or 'cpu' for a backend.

    ``requested``: 'auto' (the GPU the job was given, if the backend can use it), 'cpu', or
    'cuda' (same as auto, but a missing assignment is only noted, not an error: a job must
    still finish on a machine without a GPU). ``probe()`` returns (usable, reason) for the
    backend and is only called when a GPU is in play.
    """
    requested = "auto" if requested is None else str(requested).lower()
    if requested == "gpu":
        requested = "cuda"
    if requested not in DEVICE_CHOICES:
        raise ValueError(f"device {requested!r} is not one of {list(DEVICE_CHOICES)}")
    if requested == "cpu":
        return DeviceChoice(requested, "cpu", False, "CPU requested")
    var, ids = assigned_gpus(environ)
    if not ids:
        why = f"{var} hides every device" if var else "no GPU assigned (CUDA_VISIBLE_DEVICES and HIP_VISIBLE_DEVICES unset)"
        return DeviceChoice(requested, "cpu", requested == "cuda", f"CPU: {why}")
    usable, reason = probe()
    # The note names the variable, not the slot: which GPU a job got is a fact of the run (logged).
    if usable:
        log.info("using GPU %s from %s", ids[0], var)
        return DeviceChoice(requested, "cuda", False, f"the GPU assigned by {var}")
    log.warning("GPU %s from %s is not usable by this backend (%s); falling back to CPU", ids[0], var, reason)
    return DeviceChoice(requested, "cpu", True, f"CPU fallback: {var} assigns a GPU but {reason}")


def _torch_report():
    torch = sys.modules["torch"]
    report = []
    for i in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(i)
        total = props.total_memory / 2**30
        reserved = torch.cuda.memory_reserved(i) / 2**30
        report.append({
            "device_id": i, "name": props.name,
            "memory_allocated_gb": round(torch.cuda.memory_allocated(i) / 2**30, 3),
            "memory_reserved_gb": round(reserved, 3),
            "memory_total_gb": round(total, 3),
            "memory_pct": round(100.0 * reserved / total, 1) if total else None,
        })
    return report


def _smi_report():
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "--query-gpu=index,name,memory.used,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        log.info("nvidia-smi failed: %s", exc)
        return None
    report = []
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 4:
            continue
        used, total = float(parts[2]) / 1024, float(parts[3]) / 1024
        report.append({
            "device_id": int(parts[0]), "name": parts[1], "memory_allocated_gb": None,
            "memory_reserved_gb": round(used, 3), "memory_total_gb": round(total, 3),
            "memory_pct": round(100.0 * used / total, 1) if total else None,
        })
    return report


def memory_report():
    """Device memory of the visible GPUs: torch's figures if torch is already loaded with CUDA,
    else nvidia-smi's, else an empty list. Memory only; it says nothing about utilisation."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        return _torch_report()
    return _smi_report() or []


class GPUMemoryMixin:
    """``log_gpu_memory()`` for wrappers: the seed's hardware record of a fit."""

    def log_gpu_memory(self):
        """{cuda_available, device_requested, memory_report[], fallback_to_cpu, warnings}."""
        report = memory_report()
        choice = getattr(self, "device_choice_", None)
        warnings = []
        if choice is not None and choice.fallback_to_cpu:
            warnings.append(choice.note)
        info = {
            "cuda_available": bool(report),
            "device_requested": getattr(self, "device", "auto"),
            "device_used": choice.device if choice else None,
            "memory_report": report,
            "fallback_to_cpu": bool(choice and choice.fallback_to_cpu),
            "warnings": warnings,
        }
        log.info("device: %s", info)
        return info


def hardware_summary(choice):
    """Hardware record for a sidecar from a DeviceChoice: what kind of device trained the model.

    Which GPU slot the job had and how much memory was in use are facts of one run, not of the
    model: they go to the job's log, so that equal models give equal sidecars.
    """
    var, ids = assigned_gpus()
    log.info("device %s (%s); %s=%s; memory %s", choice.device, choice.note, var, ",".join(ids),
             memory_report() if choice.device == "cuda" else "n/a")
    return {
        "device_requested": choice.requested,
        "device_used": choice.device,
        "fallback_to_cpu": choice.fallback_to_cpu,
        "note": choice.note,
        "cpu_count": os.cpu_count(),
    }
