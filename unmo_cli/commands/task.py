"""`unmo task add|list|done|assign|sweep`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from unmo_cli.completion import complete_customer_slug

if TYPE_CHECKING:
    from unmo_cli.services.tasks import TaskView

app = typer.Typer(help="Tasks on customers: add, list, complete and assign them; playbooks "
                  "open them when a trigger fires.", no_args_is_help=True)


@app.command("add")
def add(
    slug: str = typer.Argument(..., metavar="SLUG", help="Slug or name of the customer.",
                               autocompletion=complete_customer_slug),
    title: str = typer.Argument(..., metavar="TITLE", help="What is to be done (one line)."),
    due: str | None = typer.Option(None, "--due", metavar="DATE",
                                   help="Due date, YYYY-MM-DD."),
    owner: str | None = typer.Option(None, "--owner", metavar="EMAIL",
                                     help="Who does it (default: nobody yet)."),
    json_output: bool = typer.Option(False, "--json", help="Print the task as JSON."),
) -> None:
    """Add an open task on a customer."""
    from unmo_cli import console
    from unmo_cli.services.tasks import add_task

    task = add_task(None, slug, title, due=due, owner=owner)
    if json_output:
        console.emit_json(task.to_json())
        return
    console.info(f"task #{task.id} on {task.customer}: {task.title}{_due_and_owner(task)}.")


@app.command("list")
def list_(
    slug: str | None = typer.Argument(None, metavar="SLUG",
                                      help="Only this customer's tasks (slug or name).",
                                      autocompletion=complete_customer_slug),
    owner: str | None = typer.Option(None, "--owner", metavar="EMAIL",
                                     help="Only the tasks this person owns."),
    mine: bool = typer.Option(False, "--mine", help="Only your tasks ($UNMO_ACTOR, else "
                              "user.email)."),
    open_only: bool = typer.Option(False, "--open", help="Open tasks (the default)."),
    overdue: bool = typer.Option(False, "--overdue", help="Open tasks due before today."),
    done: bool = typer.Option(False, "--done", help="Done tasks."),
    every: bool = typer.Option(False, "--all", help="Open and done tasks."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Tasks by due date (none last), open ones unless --overdue, --done or --all."""
    from unmo_cli import console
    from unmo_cli.errors import InputError
    from unmo_cli.services.tasks import list_tasks

    chosen = [name for name, on in (("--open", open_only), ("--overdue", overdue),
                                    ("--done", done), ("--all", every)) if on]
    if len(chosen) > 1:
        raise InputError(f"give one of {', '.join(chosen)}, not several.")
    state = {"--overdue": "overdue", "--done": "done", "--all": "all"}.get(
        chosen[0] if chosen else "", "open")
    tasks = list_tasks(None, slug=slug, owner=owner, mine=mine, state=state)
    if json_output:
        console.emit_json([task.to_json() for task in tasks])
        return
    table = console.DataTable(f"Tasks ({len(tasks)})", [
        console.key("id"), console.key("due"), console.key("customer"), console.key("status"),
        console.text("task", min_width=16), console.key("owner"), console.number("fired")])
    for t in tasks:
        status = "overdue" if t.overdue else t.status
        table.add_row(str(t.id), t.due_on.isoformat() if t.due_on else None, t.customer, status,
                      t.title, t.owner, str(t.fired) if t.playbook else None)
    console.print_out(table)


@app.command("done")
def done(
    task_id: int = typer.Argument(..., metavar="ID", help="Task id, see `unmo task list`."),
    note: str | None = typer.Option(None, "--note", metavar="TEXT",
                                    help="What came of it."),
    json_output: bool = typer.Option(False, "--json", help="Print the task as JSON."),
) -> None:
    """Mark a task done (a task done already stays as it was)."""
    from unmo_cli import console
    from unmo_cli.services.tasks import complete_task

    task, already = complete_task(None, task_id, note=note)
    if json_output:
        console.emit_json(task.to_json())
    elif already:
        console.info(f"task #{task.id} was already done at {task.done_at:%Y-%m-%d %H:%M} UTC.")
    else:
        console.info(f"task #{task.id} on {task.customer} is done: {task.title}.")


@app.command("assign")
def assign(
    task_id: int = typer.Argument(..., metavar="ID", help="Task id, see `unmo task list`."),
    owner: str = typer.Argument(..., metavar="EMAIL", help="Who does it ('none': nobody)."),
    json_output: bool = typer.Option(False, "--json", help="Print the task as JSON."),
) -> None:
    """Give a task to someone."""
    from unmo_cli import console
    from unmo_cli.services.tasks import assign_task

    task = assign_task(None, task_id, owner)
    if json_output:
        console.emit_json(task.to_json())
        return
    console.info(f"task #{task.id} on {task.customer} is "
                 f"{'for ' + task.owner if task.owner else 'unassigned'}.")


@app.command("sweep")
def sweep(
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would fire; write nothing."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Fire the time-based playbooks (renewal_due, silent); safe to run from cron hourly."""
    from unmo_cli import console
    from unmo_cli.services.triggers import sweep as sweep_playbooks

    fired = sweep_playbooks(None, dry_run=dry_run)
    if json_output:
        console.emit_json({"dry_run": dry_run, "fired": [f.to_json() for f in fired]})
        return
    for f in fired:
        action = ("would open or update a task" if f.task_id is None else
                  f"opened task #{f.task_id}" if f.created else f"updated task #{f.task_id}")
        console.info(f"{f.customer}: {f.trigger} — {f.reason}; {action}: {f.title}.")
    if not fired:
        console.info("nothing to fire.")


def _due_and_owner(task: TaskView) -> str:
    due = f", due {task.due_on.isoformat()}" if task.due_on else ""
    return f"{due}, {'for ' + task.owner if task.owner else 'unassigned'}"
