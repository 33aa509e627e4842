"""A privileged scripted Crafter expert: it plans on the true world state and explains every step.

`ScriptedExpert.act(env)` reads the raw `crafter.Env` internals (`env._world`, `env._player`, `env._step`), never
changes them, and returns one of the 17 action names with a one or two sentence rationale shaped like an LLM
teacher's thought ("Subgoal: ... because ..."), so a student learns from it the same way it learns from a model.

How it decides, once per step:
- One breadth-first search over (cell, facing) states from the player, in numba. Its moves follow Crafter's rules
  exactly: a move into a free walkable cell walks, a move towards anything else only turns, so "face this free
  grass cell" (needed to place a table, a plant or a stone there) is an ordinary search goal. Digging is an edge
  too: with the right pickaxe, "do" on the stone, coal, iron or diamond in front and then a move costs two steps,
  as does felling a tree, so the search tunnels through mountains when that is shorter. It never enters lava and
  never even turns towards it (a move towards lava walks into it).
- Goals are checked in a fixed priority order: stay asleep; fight a zombie or skeleton within reach; drink and eat
  when low; shelter at night (a two-cell pocket walled in with stone: see `find_pocket`) and sleep there; keep the
  sapling we planted walled in; then the technology tree (wood, table, wood tools, stone, stone tools, furnace,
  coal, iron, iron tools, diamond) and the rest of the achievements (sapling, plant, cow, drink, place stone,
  zombie, skeleton, eat a ripe plant, wake up). The first goal that applies and is reachable gives the action.
- Per-episode memory (reset by `reset()`): the shelter being built, the plant being protected, hysteresis flags for
  drinking, eating and resting. No randomness: the same world state gives the same action.
- It can label states it did not reach itself (DAgger: another policy plays, the expert says what it would do).
  When the action last played was not its own last answer, it drops its plans (the shelter it was heading for)
  and plans afresh from the state it is shown; the hysteresis flags and the plant stay, as they describe the
  episode, not a route.
"""

from teachkit.crafter.expert.expert import ScriptedExpert
from teachkit.crafter.expert.world import ACTIONS

__all__ = ["ACTIONS", "ScriptedExpert"]
