"""Which dask-openvino and OpenVINO each process of a cluster runs, and the check that they agree.

A job is built on the client and run on the workers: the task graph carries this
package's classes (unpickled on the scheduler and the workers) and each worker
compiles with its own OpenVINO. A worker with another dask-openvino may read the
graph differently; one with another OpenVINO release may compile other kernels and
give other numbers. [`check_versions`][dask_openvino.versions.check_versions] asks
every process through ``client.run`` and raises
[`VersionMismatchError`][dask_openvino.errors.VersionMismatchError] listing those that
differ. ``dask-openvino predict`` runs it when a job starts, and the warm-up plugin
([`WarmUp`][dask_openvino.plugin.WarmUp]) checks each worker it sets up, including
workers that join later.

Compatible means the same dask-openvino version and the same OpenVINO release
(``2026.4.1``), whatever the OpenVINO build (``-22982-e213a14...``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import openvino as ov

from dask_openvino.errors import VersionMismatchError

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["check_versions", "compatible", "mismatch", "runtime_versions", "version_text"]


def runtime_versions() -> dict[str, str]:
    """Return the dask-openvino and OpenVINO versions this process runs.

    Read at each call from the imported modules, so the answer is the code that runs,
    not what a package index recorded at install time.

    Returns
    -------
    dict of str to str
        ``{"dask-openvino": ..., "openvino": ...}`` (OpenVINO's full version, build included).

    Examples
    --------
    >>> sorted(runtime_versions())
    ['dask-openvino', 'openvino']
    """
    import dask_openvino  # the package this module belongs to: imported by now, read at call time

    return {"dask-openvino": str(dask_openvino.__version__), "openvino": str(ov.get_version())}


def _release(openvino_version: str) -> str:
    """``2026.4.1`` of ``2026.4.1-22982-e213a147257-releases/2026/4``."""
    return openvino_version.split("-", 1)[0]


def compatible(reference: Mapping[str, str], found: Mapping[str, str]) -> bool:
    """Whether ``found`` runs the same dask-openvino and OpenVINO release as ``reference``.

    Parameters
    ----------
    reference, found : mapping of str to str
        Versions as [`runtime_versions`][dask_openvino.versions.runtime_versions] gives them.

    Returns
    -------
    bool

    Examples
    --------
    >>> ours = {"dask-openvino": "0.1.0", "openvino": "2026.4.1-22982-e213a147257"}
    >>> compatible(ours, {"dask-openvino": "0.1.0", "openvino": "2026.4.1-23000-0123456789a"})
    True
    >>> compatible(ours, {"dask-openvino": "0.1.0", "openvino": "2026.3.0-21000-0123456789a"})
    False
    """
    return found.get("dask-openvino") == reference.get("dask-openvino") and _release(
        found.get("openvino", "")
    ) == _release(reference.get("openvino", ""))


def version_text(versions: Mapping[str, str]) -> str:
    """Return versions as one line for messages.

    Examples
    --------
    >>> version_text({"dask-openvino": "0.1.0", "openvino": "2026.4.1-22982-e213a147257"})
    'dask-openvino 0.1.0, OpenVINO 2026.4.1'
    """
    return f"dask-openvino {versions.get('dask-openvino', '?')}, OpenVINO {_release(versions.get('openvino', '?'))}"


def mismatch(reference: Mapping[str, str], differing: Mapping[str, str]) -> VersionMismatchError:
    """Return the error that lists the processes running other versions than ``reference``.

    Parameters
    ----------
    reference : mapping of str to str
        The client's versions.
    differing : mapping of str to str
        For each process that differs, what it runs (or why it could not tell).

    Returns
    -------
    VersionMismatchError

    Examples
    --------
    >>> ours = {"dask-openvino": "0.1.0", "openvino": "2026.4.1-22982"}
    >>> print(mismatch(ours, {"tcp://10.0.0.7:40331": "dask-openvino 0.0.9, OpenVINO 2026.4.1"}))
    these processes run other versions than the client (dask-openvino 0.1.0, OpenVINO 2026.4.1):
      tcp://10.0.0.7:40331: dask-openvino 0.0.9, OpenVINO 2026.4.1
    Install the same dask-openvino and OpenVINO release on the client, the scheduler and every worker.
    """
    lines = [f"  {where}: {what}" for where, what in sorted(differing.items())]
    return VersionMismatchError(
        "\n".join(
            [
                f"these processes run other versions than the client ({version_text(reference)}):",
                *lines,
                "Install the same dask-openvino and OpenVINO release on the client, the scheduler and every worker.",
            ]
        ),
        dict(differing),
    )


def _describe(answer: object) -> tuple[dict[str, str] | None, str]:
    """Return the versions in a ``client.run`` answer, and their text (or what went wrong there)."""
    if isinstance(answer, dict):
        return answer, version_text(answer)
    # An exception: typically this module cannot be imported there (no or an older dask-openvino).
    return None, f"cannot tell ({type(answer).__name__}: {answer})"


def check_versions(client: Client) -> dict[str, dict[str, str]]:
    """Check that the scheduler and every worker run the client's dask-openvino and OpenVINO release.

    Parameters
    ----------
    client : distributed.Client
        Connected to the cluster the job will run on.

    Returns
    -------
    dict of str to dict
        The versions of ``"client"``, ``"scheduler"`` and each worker (by address).

    Raises
    ------
    VersionMismatchError
        If a process runs other versions, or cannot run the check (it lacks
        dask-openvino, or has an older one); the message lists each such process.

    Examples
    --------
    >>> from distributed import Client
    >>> client = Client("tcp://scheduler:8786")  # doctest: +SKIP
    >>> dask_openvino.check_versions(client)["client"]  # doctest: +SKIP
    {'dask-openvino': '0.1.0', 'openvino': '2026.4.1-22982-e213a147257-releases/2026/4'}
    """
    reference = runtime_versions()
    answers: dict[str, object] = dict(client.run(runtime_versions, on_error="return"))
    try:
        answers["scheduler"] = client.run_on_scheduler(runtime_versions)  # type: ignore[no-untyped-call]
    except Exception as err:  # the scheduler could not import or run the check
        answers["scheduler"] = err
    found: dict[str, dict[str, str]] = {"client": reference}
    differing: dict[str, str] = {}
    for where, answer in answers.items():
        versions, text = _describe(answer)
        if versions is not None and compatible(reference, versions):
            found[where] = versions
        else:
            differing[where] = text
    if differing:
        raise mismatch(reference, differing)
    return found
