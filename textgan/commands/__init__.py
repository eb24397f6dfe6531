"""The `textgan` sub-commands, one module each: `register(sub)` adds the command's parser to the top-level
`textgan` parser (built in `textgan.cli`) and points it at the module's `run`-style function. Thin: parse,
call the library, print; heavy libraries (torch, ...) are imported inside the functions only, so that
`textgan --help` answers at once."""

from textgan.commands import data, doctor, eval, recipes, report, sample, sweep, train

COMMANDS = (train, recipes, sample, eval, sweep, doctor, report, data)
"""In the order `textgan --help` lists them."""
