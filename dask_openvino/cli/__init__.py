"""The `dask-openvino` command line: score a table, inspect, convert or quantize a model, run the demo.

```bash
dask-openvino predict model.xml features.parquet -o scored.parquet --inputs f0,f1,f2
dask-openvino info model.xml
dask-openvino demo
```

[`main`][dask_openvino.cli.main] is the command group; the commands live in
[`dask_openvino.cli.predict`][dask_openvino.cli.predict] and
[`dask_openvino.cli.commands`][dask_openvino.cli.commands], the parsing of their
options in [`dask_openvino.cli.params`][dask_openvino.cli.params] and, for
`--preprocess`, `--postprocess` and `--labels`, in
[`dask_openvino.cli.processing`][dask_openvino.cli.processing]. A predict job is
[`dask_openvino.cli.job`][dask_openvino.cli.job] (its options and lazy graph), read from
[`dask_openvino.cli.inputs`][dask_openvino.cli.inputs] (tables from
[`dask_openvino.cli.tables`][dask_openvino.cli.tables], columns chosen in
[`dask_openvino.cli.selection`][dask_openvino.cli.selection]) and run as
[`dask_openvino.cli.run`][dask_openvino.cli.run] says (version check, warm-up,
summary); logs are [`dask_openvino.cli.logs`][dask_openvino.cli.logs], the worker plugins
a job registers last as long as its command ([`dask_openvino.cli.scoped`][dask_openvino.cli.scoped]),
and the one-line report of a library error is [`dask_openvino.cli.errors`][dask_openvino.cli.errors].
"""

from __future__ import annotations

import click

from dask_openvino import __version__
from dask_openvino.cli.commands import check_command, convert_command, demo_command, info_command, quantize_command
from dask_openvino.cli.predict import predict_command

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="dask-openvino")
def main() -> None:
    """Fast, distributed batch inference over tables with OpenVINO on CPUs.

    \b
    Examples:
      dask-openvino demo
      dask-openvino info model.xml
      dask-openvino check model.xml features.parquet --inputs f0,f1,f2
      dask-openvino predict model.xml features.parquet -o scored.parquet --inputs f0,f1,f2

    Run `dask-openvino COMMAND --help` for each command's options.
    """  # noqa: D301  (click's no-rewrap marker is a literal backspace)


main.add_command(predict_command)
main.add_command(info_command)
main.add_command(check_command)
main.add_command(demo_command)
main.add_command(convert_command)
main.add_command(quantize_command)
