"""The ``riskmap`` command line (click).

Without ``--debug`` a :class:`~riskmap.errors.RiskmapError` becomes one line on
stderr and a non-zero exit; with it, the traceback is shown.
"""

from __future__ import annotations

import logging
import sys
import warnings

import click

from riskmap import __version__
from riskmap.cli.text import HelpFormatter
from riskmap.errors import RiskmapError

#: The help option's own line, in the words of every other option.
HELP_HELP = "显示此帮助并退出 (show this message and exit)."


class _Context(click.Context):
    """Help wrapped by terminal columns (a Chinese character takes two)."""

    formatter_class = HelpFormatter


class _BilingualHelp:
    """The ``-h/--help`` line in Chinese and English like every other option."""

    context_class = _Context

    def get_help_option(self, ctx):
        """The help option, with :data:`HELP_HELP` as its text."""
        opt = super().get_help_option(ctx)
        if opt is not None:
            opt.help = HELP_HELP
        return opt


class _Command(_BilingualHelp, click.Command):
    """A riskmap command."""


class _Group(_BilingualHelp, click.Group):
    """A group that turns RiskmapError into one line on stderr."""

    command_class = _Command

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except RiskmapError as e:
            if ctx.meta.get("riskmap.debug"):
                raise
            raise click.ClickException(str(e)) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit,
                KeyboardInterrupt):
            raise
        except Exception as e:  # a bug of ours, or an input we did not foresee
            if ctx.meta.get("riskmap.debug"):
                raise
            msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
            raise click.ClickException(
                f"内部错误 (internal error) {type(e).__name__}: {msg}; rerun with --debug and "
                "report the traceback") from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="riskmap",
                      help="显示版本并退出 (show the version and exit).")
def cli():
    """riskmap: 非法采矿巡查优先级图 (illegal-mining patrol-priority maps)."""


def setup(ctx: click.Context, verbose: int, quiet: int, debug: bool) -> None:
    """Configure logging and the debug flag for one command."""
    ctx.meta["riskmap.debug"] = debug
    level = max(10, 30 - 10 * (verbose - quiet))
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    # the libraries' own INFO lines (a line per font table, per layer written) only with -vvv
    for name in ("fontTools", "pyogrio", "matplotlib", "rasterio", "PIL", "fiona"):
        logging.getLogger(name).setLevel(level if verbose - quiet >= 3 else max(level, 30))

    def show(message, category, filename, lineno, file=None, line=None):
        # a user reads riskmap's own warnings, not the module and line that raised
        # them; library warnings (numpy, pandas) go to the debug log only
        from riskmap.errors import RiskmapWarning

        if not issubclass(category, RiskmapWarning):
            logging.getLogger("riskmap.cli").debug("%s: %s", category.__name__, message)
        elif quiet < 2:
            click.echo(f"警告 (warning): {message}", err=True)

    warnings.showwarning = show


def main(argv=None):
    """Entry point of the ``riskmap`` console script."""
    from riskmap.cli import build as _build  # noqa: F401  (registers commands)
    from riskmap.cli import calibrate as _calibrate  # noqa: F401
    from riskmap.cli import check as _check  # noqa: F401
    from riskmap.cli import evaluate as _evaluate  # noqa: F401
    from riskmap.cli import ingest as _ingest  # noqa: F401
    from riskmap.cli import plan as _plan  # noqa: F401  (plan, weekly)
    from riskmap.cli import power as _power  # noqa: F401
    from riskmap.cli import rights as _rights  # noqa: F401
    from riskmap.cli import score as _score  # noqa: F401

    return cli.main(args=argv, prog_name="riskmap")
