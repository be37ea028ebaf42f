"""Options shared by several subcommands (written once, rio style)."""

import click

verbose_opt = click.option("-v", "--verbose", count=True, help="More messages (repeatable).")
quiet_opt = click.option("-q", "--quiet", count=True, help="Fewer messages (repeatable).")
debug_opt = click.option("--debug", is_flag=True, help="Show the full traceback on errors.")
out_opt = click.option("--out", "out", type=click.Path(file_okay=False),
                       help="Output folder (default: the project's 'output').")
overwrite_opt = click.option("--overwrite", is_flag=True,
                             help="Replace existing output folders.")
