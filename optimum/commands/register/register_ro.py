"""Registers ``optimum-cli ro <command>`` with Optimum's CLI (found through the ``optimum.commands.register``
namespace, as optimum-intel and optimum-onnx register theirs). Kept to one import so ``optimum-cli`` stays fast."""

from optimum_ro.commands.optimum_cli import RoCommand

REGISTER_COMMANDS = [RoCommand]
