"""JUnit XML for `netlab check --junit`: one testsuite per lab, one testcase per expect.

The schema subset Jenkins, GitLab and GitHub test reporters all read: testsuites >
testsuite(name, tests, failures, errors, skipped, time, timestamp) > testcase(classname,
name, time) > failure(message, type) + system-out.
"""

from __future__ import annotations

import datetime
import socket
import xml.etree.ElementTree as ET

from netlab.probes.results import CheckReport


def to_junit(report: CheckReport) -> str:
    failures = len(report.failed)
    counts = {"tests": str(len(report.results)), "failures": str(failures), "errors": "0",
              "skipped": "0", "time": f"{report.elapsed_s:.3f}"}
    root = ET.Element("testsuites", {"name": "netlab check", **counts})
    suite = ET.SubElement(root, "testsuite", {
        "name": f"netlab.{report.lab}", **counts,
        "timestamp": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "hostname": socket.gethostname(),
    })
    for r in report.results:
        case = ET.SubElement(suite, "testcase", {
            "classname": f"netlab.{report.lab}", "name": r.title, "time": f"{r.elapsed_s:.3f}",
        })
        if not r.passed:
            fail = ET.SubElement(case, "failure", {"message": r.seen, "type": "ExpectationFailed"})
            fail.text = "\n".join([f"expected: {r.title}", f"seen: {r.seen}", *r.details,
                                   *([f"hint: {r.hint}"] if r.hint else [])])
        out = ET.SubElement(case, "system-out")
        out.text = r.seen
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
