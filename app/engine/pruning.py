"""Pruning finished history from a workflow's task tree, and detecting the depth-1,000 stop.

SpiffWorkflow keeps every finished task in the tree and walks the whole tree on every step;
its task iterator also stops descending at depth 1,000, after which a looping instance looks
"completed" while it is not (ENGINE-NOTES §8).  Before every save (and every few engine
rounds) :func:`prune` keeps, under the root of each workflow tree, only the nearest finished
ancestor (the anchor) of everything still unfinished, with the anchor's whole subtree.

This touches private attributes of SpiffWorkflow 3.2 (``Task._parent``/``_children``,
``Workflow.tasks``, ``BpmnWorkflow.subprocesses``, the event manager): the package pins
``SpiffWorkflow>=3.2.0,<3.3`` and tests/engine/test_pruning.py compares pruned, reloaded runs
with in-memory runs on several loop shapes.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from app.errors import EngineError


def prune(workflow: BpmnWorkflow) -> int:
    """Remove finished history from the workflow and its running subprocesses.

    Returns the number of tasks removed.  Never removes an unfinished task, an ancestor a
    pending structured join still needs, or a finished task inside a kept subtree.
    """
    removed = _prune_tree(workflow, workflow)
    removed += _drop_orphan_subprocesses(workflow)
    for subprocess in list(workflow.subprocesses.values()):
        if not subprocess.completed and subprocess.parent_task_id in _all_task_ids(workflow):
            removed += _prune_tree(subprocess, workflow)
    removed += _drop_orphan_subprocesses(workflow)
    return removed


def _prune_tree(tree_owner: Any, top: BpmnWorkflow) -> int:
    """Prune one workflow tree (the top workflow or one subprocess); returns tasks removed."""
    root = tree_owner.task_tree
    if root is None or not root.has_state(TaskState.FINISHED_MASK):
        return 0
    groups = _constraint_paths_by_root_child(tree_owner)
    if not groups:
        return 0
    new_children = [_anchor(paths) for paths in groups.values()]
    keep = {root.id}
    for child in new_children:
        keep.update(_subtree_ids(child))
    removed = [task for task_id, task in tree_owner.tasks.items() if task_id not in keep]
    for task in removed:
        del tree_owner.tasks[task.id]
        top.event_manager.remove_task(task)
    root._children = [child.id for child in new_children]
    for child in new_children:
        child._parent = root.id
    if tree_owner.last_task is not None and tree_owner.last_task.id not in keep:
        tree_owner.last_task = new_children[0]
    return len(removed)


def _constraint_paths_by_root_child(tree_owner: Any) -> dict[Any, list[list[Any]]]:
    """Paths (root first) of every task that must stay reachable, grouped by root child.

    These are the unfinished tasks plus the split task each pending structured join will
    look up with ``find_ancestor``.
    """
    root = tree_owner.task_tree
    groups: dict[Any, list[list[Any]]] = {}
    for task in list(tree_owner.tasks.values()):
        if not task.has_state(TaskState.NOT_FINISHED_MASK):
            continue
        for needed in _needed_tasks(task):
            path = _path_from_root(needed)
            if len(path) < 2 or path[0] is not root:
                continue
            groups.setdefault(path[1].id, []).append(path)
    order = {child_id: index for index, child_id in enumerate(root._children)}
    return dict(sorted(groups.items(), key=lambda item: order.get(item[0], len(order))))


def _needed_tasks(task: Any) -> list[Any]:
    """The task itself plus the split ancestor a structured join spec refers to."""
    needed = [task]
    split_name = getattr(task.task_spec, "split_task", None)
    if split_name:
        # Task.find_ancestor recurses once per level and fails on trees deeper than Python's
        # recursion limit, which is exactly what an unpruned state can be.
        ancestor = task.parent
        while ancestor is not None and ancestor.task_spec.name != split_name:
            ancestor = ancestor.parent
        if ancestor is not None:
            needed.append(ancestor)
    return needed


def _path_from_root(task: Any) -> list[Any]:
    """Ancestors of ``task`` from the root down to the task itself."""
    path = []
    current = task
    while current is not None:
        path.append(current)
        current = current.parent
    path.reverse()
    return path


def _anchor(paths: list[list[Any]]) -> Any:
    """The deepest finished task on the common prefix of ``paths`` below the root.

    Falls back to the root's child itself when no finished task is on the prefix.
    """
    prefix = paths[0]
    for path in paths[1:]:
        length = 0
        for mine, theirs in zip(prefix, path, strict=False):
            if mine is not theirs:
                break
            length += 1
        prefix = prefix[:length]
    for task in reversed(prefix[1:]):
        if task.has_state(TaskState.FINISHED_MASK):
            return task
    return prefix[1]


def _subtree_ids(task: Any) -> set[Any]:
    """Ids of ``task`` and all its descendants (iterative: trees can be deep before pruning)."""
    ids = set()
    stack = [task]
    while stack:
        current = stack.pop()
        ids.add(current.id)
        stack.extend(child for child in current.children if child is not None)
    return ids


def _all_task_ids(workflow: BpmnWorkflow) -> set[Any]:
    """Ids of the tasks of the top workflow and every subprocess."""
    ids = set(workflow.tasks)
    for subprocess in workflow.subprocesses.values():
        ids.update(subprocess.tasks)
    return ids


def _drop_orphan_subprocesses(workflow: BpmnWorkflow) -> int:
    """Drop subprocesses whose parent task was pruned (repeated for nested ones)."""
    removed = 0
    while True:
        known = _all_task_ids(workflow)
        orphans = [task_id for task_id, sp in workflow.subprocesses.items() if sp.parent_task_id not in known]
        if not orphans:
            return removed
        for task_id in orphans:
            subprocess = workflow.subprocesses.pop(task_id)
            for task in subprocess.tasks.values():
                workflow.event_manager.remove_task(task)
            removed += len(subprocess.tasks)


# --------------------------------------------------------------------------- stuck detection


def check_not_stuck(workflow: BpmnWorkflow) -> None:
    """Raise EngineError when SpiffWorkflow can no longer see some unfinished task.

    This happens when a tree grows past the iterator's depth limit (1,000): the task still
    exists in ``workflow.tasks`` but ``get_tasks`` does not return it and ``is_completed``
    would report a finished instance.
    """
    visible = {task.id for task in workflow.get_tasks(state=TaskState.DEFINITE_MASK)}
    for owner in [workflow, *workflow.get_active_subprocesses()]:
        for task in owner.tasks.values():
            if task.has_state(TaskState.DEFINITE_MASK) and task.id not in visible:
                raise EngineError(
                    "The instance is stuck: the engine can no longer reach its unfinished task "
                    f"'{task.task_spec.name}' (task tree too deep)",
                    element=getattr(task.task_spec, "bpmn_id", None),
                )
    if workflow.completed and any(t.has_state(TaskState.NOT_FINISHED_MASK) for t in workflow.tasks.values()):
        raise EngineError("The instance is stuck: it reports completion while tasks are unfinished")
