"""The lab state as one import, for callers that want all of it: the names below live in
layout.py (the run directory, lab directories, trust checks), plans.py (the saved plan),
locks.py (the per-lab lock) and journal.py (the typed journal). New code imports from
those modules.
"""

from __future__ import annotations

from netlab.errors import UsageError as UsageError
from netlab.state.journal import JOURNAL_SCHEMA as JOURNAL_SCHEMA
from netlab.state.journal import Record as Record
from netlab.state.journal import read_record as read_record
from netlab.state.layout import DEFAULT_RUN_DIR as DEFAULT_RUN_DIR
from netlab.state.layout import LOG_DIR as LOG_DIR
from netlab.state.layout import PLAN_FILE as PLAN_FILE
from netlab.state.layout import RECORD_FILE as RECORD_FILE
from netlab.state.layout import RUN_DIR_ENV as RUN_DIR_ENV
from netlab.state.layout import UTS_DIR as UTS_DIR
from netlab.state.layout import LabNotFound as LabNotFound
from netlab.state.layout import StateError as StateError
from netlab.state.layout import deployed_labs as deployed_labs
from netlab.state.layout import lab_dir as lab_dir
from netlab.state.layout import list_labs as list_labs
from netlab.state.layout import remove_lab_dir as remove_lab_dir
from netlab.state.layout import run_dir as run_dir
from netlab.state.locks import lab_lock as lab_lock
from netlab.state.plans import read_plan as read_plan
from netlab.state.plans import resolve_lab as resolve_lab
from netlab.state.plans import write_plan as write_plan
