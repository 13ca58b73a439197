"""``callcenter scripts``: check a directory of call-script files, and list the scripts in
use. Registered by ``app.py``; each command runs inside the app's context and asks
``need(...)`` for what it uses.
"""

from __future__ import annotations

import click

from crm_core.settings import Settings
from scripts import Library
from telephony.context import need


@click.group("scripts")
def scripts_group() -> None:
    """Call scripts: the greeting and menu, what callers hear on hold, outbound scripts,
    the pitch, and the e-mail and text message templates."""


@scripts_group.command("check")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
def scripts_check(directory: str | None) -> None:
    """Check every call-script file in DIRECTORY (default: SCRIPTS_DIR, else the scripts
    that come with the software): one line per problem, as file:line: message, and exit
    status 1 if there is any."""
    from scripts import BUNDLED, check_dir

    directory = directory or need(Settings).scripts_dir or str(BUNDLED)
    found, problems = check_dir(directory)
    for problem in problems:
        click.echo(str(problem))
    if problems:
        raise click.exceptions.Exit(1)
    click.echo(f"{len(found)} scripts OK in {directory}")


@scripts_group.command("list")
def scripts_list() -> None:
    """List the scripts in use: name, kind, version, languages and file; files with
    problems are listed after them."""
    library = need(Library)
    for script in library.scripts():
        click.echo(
            f"{script.name:<20} {script.kind.value:<15} {script.version!s:<10} "
            f"{','.join(script.languages):<12} {script.path.name}"
        )
    for problem in library.errors:
        click.echo(f"problem: {problem}", err=True)
