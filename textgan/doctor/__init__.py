"""The GAN doctor: it reads a run's logged records, names the classic pitfalls, and remedies them.

`detect` holds the detectors (`textgan doctor RUN`), `remedies` the one remedy policy (the changes
printed as `--set` advice and applied by the live doctor are the same list), `live` the doctor
inside the training loop (`doctor.mode: warn | auto`), `roles` what each game's metrics mean to
it, and `report` the HTML page of a run. It learns about a game only through the game's module
(`textgan.games`): its metric roles and its own remedies.
"""
