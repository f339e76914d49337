"""What ``llmops size`` sizes: each rendered InferenceService of some deployments, or one model by name.

:func:`size` is the one entry point: it picks deployments or a standalone model from what was
given, refuses vLLM flags vLLM does not know, and returns one :class:`Sized` per vLLM to run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from llmops.errors import UsageError
from llmops.gitops.manifests import iter_kind
from llmops.gitops.render import render_apps
from llmops.gitops.repo import Repository
from llmops.serving import gpus, kserve, models, sizing, vllm_args
from llmops.serving.sizing import SizingReport


@dataclass(frozen=True)
class Sized:
    """One sizing report and where its inputs came from."""

    report: SizingReport
    context: dict[str, str]  # environment, application, namespace, model_source, gpu_source


def standalone(targets: Sequence[str], *, model: str | None, model_config: Path | None) -> bool:
    """Whether to size a model by name (``--model``, or ``--model-config`` with no targets)
    rather than the deployments of a repository."""
    return model is not None or (model_config is not None and not targets)


def refuse_unknown_flags(flags: Sequence[str]) -> vllm_args.VllmArgs:
    """The flags parsed as vLLM parses them; refused before any rendering when vLLM would not know one
    (the same verdict and exit code as a deployment's own flags get, see :func:`sizing.refuse_unknown`)."""
    args = vllm_args.from_cli(list(flags))
    sizing.refuse_unknown(args)
    return args


def size_deployments(
    repo: Repository,
    targets: Sequence[str],
    *,
    gpu: str | None = None,
    model_config: Path | None = None,
    flags: Sequence[str] = (),
) -> list[Sized]:
    """Size every InferenceService the targets (environments or Applications; all when none) render."""
    refuse_unknown_flags(flags)
    apps = repo.resolve_many(list(targets))
    out: list[Sized] = []
    for item in render_apps(repo.root, apps):
        for isvc in iter_kind(item.resources, "InferenceService"):
            p = kserve.predictor(isvc, item.resources, extra_flags=flags)
            inputs = kserve.sizing_inputs(p, gpu=gpu, model_config=model_config)
            context = {
                "environment": item.app.environment,
                "application": item.app.name,
                "namespace": inputs.namespace,
                "model_source": inputs.model_source,
                "gpu_source": inputs.gpu_source,
            }
            out.append(Sized(kserve.assess_inputs(inputs), context))
    if not out:
        raise UsageError(
            "no InferenceService in " + ", ".join(a.name for a in apps),
            hint="llmops size reads spec.predictor of rendered InferenceServices",
        )
    return out


def size_standalone(
    *,
    model: str | None,
    model_config: Path | None,
    gpu: str | None,
    gpu_count: int | None,
    flags: Sequence[str],
) -> Sized:
    """Size one model on ``gpu_count`` GPUs (default: tensor x pipeline parallel) of type ``gpu``."""
    if gpu is None:
        raise UsageError(
            "--gpu is required with --model/--model-config",
            hint="known GPUs: " + ", ".join(gpus.known_gpus()),
        )
    if model_config is not None:
        facts, source = models.load_config_file(model_config), f"--model-config {model_config}"
    elif model is not None:
        facts, source = models.lookup(model), f"--model {model}"
    else:
        raise UsageError("name an environment, or a model with --model NAME or --model-config PATH")
    args = refuse_unknown_flags(flags)
    if gpu_count is None:
        settings, _ = sizing.settings_for(facts, gpus.get(gpu), args)
        gpu_count = settings.tensor_parallel * settings.pipeline_parallel
    if gpu_count < 0:
        raise UsageError(f"--gpus={gpu_count} must be zero or more")
    report = sizing.assess(facts, gpus.get(gpu), args, gpu_count, name=facts.name)
    return Sized(report, {"model_source": source, "gpu_source": f"--gpu {gpu}"})


def size(
    repo: Repository | None,
    targets: Sequence[str],
    flags: Sequence[str] = (),
    *,
    model: str | None = None,
    model_config: Path | None = None,
    gpu: str | None = None,
    gpu_count: int | None = None,
) -> list[Sized]:
    """Size a model by name (see :func:`standalone`) or the deployments of ``repo``."""
    if standalone(targets, model=model, model_config=model_config):
        if targets:
            raise UsageError("give either environments/applications or --model, not both")
        return [
            size_standalone(model=model, model_config=model_config, gpu=gpu, gpu_count=gpu_count, flags=flags)
        ]
    if repo is None:
        raise UsageError("no repository to read environments from")
    return size_deployments(repo, targets, gpu=gpu, model_config=model_config, flags=flags)
