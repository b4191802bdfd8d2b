"""A live lesson as a pure state machine.

`decide(state, command, at)` checks a command against the lesson's rules and returns the events it
causes. A refused command causes one refusal event: a denied attempt is recorded, never silently
dropped. `evolve(state, event)` applies one event. A lesson's state is the fold of its events, so
the log and the state cannot disagree, and a restarted server rebuilds a lesson by replaying its
log.

Modules: `model` (state, rules, roster), `commands`, `events`, `decide`, `evolve`, `media` (what may
flow), `view` (what each participant is shown), `codec` (events to and from JSON for the log).
"""
