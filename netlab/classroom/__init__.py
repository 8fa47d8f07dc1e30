"""A class on one server: one isolated copy of a lab per student (roster.py names them,
record.py remembers them, deploy.py builds and removes them in parallel with a rollback,
limits.py caps them, cgroups.py limits their CPU and memory), grading every copy or every
submitted topology (grade.py, report.py), checkpoints of a lab's live configuration
(checkpoint.py), and students' own rootless labs seen and graded by root (students.py).
The CLI is netlab/cli/classroom.py; docs/classroom.md and docs/teaching.md say how to use
it.

Everything goes through netlab.api / netlab.lab / the backend registry, so that the
rootless backend (issue 15) plugs in below without changes here, except where the
docs say so (record.py: the class directory; cgroups.py: where the copies' groups live).
"""
