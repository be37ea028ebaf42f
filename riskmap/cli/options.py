"""Options shared by several subcommands (written once, rio style)."""

import functools

import click

verbose_opt = click.option("-v", "--verbose", count=True,
                           help="更多信息, 可重复 (more messages; repeatable).")
quiet_opt = click.option("-q", "--quiet", count=True,
                         help="更少信息, 可重复 (fewer messages; repeatable).")
debug_opt = click.option("--debug", is_flag=True,
                         help="出错时显示完整回溯 (show the full traceback on errors).")
out_opt = click.option("--out", "out", type=click.Path(file_okay=False),
                       help="输出目录, 默认为项目的 output (output folder; default: the "
                            "project's 'output').")
overwrite_opt = click.option("--overwrite", is_flag=True,
                             help="替换已有的输出目录 (replace existing output folders).")
rescore_opt = click.option(
    "--rescore", is_flag=True,
    help="重新计算风险面, 即使上次构建的输入未变 (score the cells again even when the last "
         "build's inputs are unchanged; default: reuse the last build's cells).")


def say_printer(quiet: int):
    """``say(line)``: one line on stderr (which cells a command used), hidden by ``-qq``."""
    return (lambda line: click.echo(line, err=True)) if quiet < 2 else None


def project_arg(f):
    """The project file: a positional PROJECT, with ``--project FILE`` as a hidden alias.

    Every command that reads a project takes it this way. ``--project`` is
    deprecated (older command lines and ``scripts/build_map.py`` use it). The
    command receives one parameter ``project``; without either, a one-line error
    says how to call the command. A positional PROJECT wins over
    ``--project``, so a script may pass a default project with ``--project``
    that a PROJECT on the command line replaces.
    """

    @functools.wraps(f)
    def command(*args, project_arg=None, project_opt=None, **kwargs):
        project = project_arg or project_opt
        if not project:
            from riskmap.errors import ProjectFileError

            ctx = click.get_current_context()
            raise ProjectFileError(f"缺少项目文件 (no project file given): {ctx.command_path} "
                                   "PROJECT.yaml")
        return f(*args, project=project, **kwargs)

    command = click.option("--project", "project_opt", metavar="FILE", hidden=True,
                           help="已弃用, 请给出 PROJECT (deprecated: give PROJECT "
                                "instead).")(command)
    return click.argument("project_arg", metavar="PROJECT", required=False)(command)
