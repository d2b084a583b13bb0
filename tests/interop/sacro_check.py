"""Opens an fjq release with the SACRO Viewer's own code (sacroviewer from PyPI), as an output
checker would, and says what it shows.

Usage: sacro_check.py RESULTS_JSON; prints one JSON object:
  version_ok      the viewer accepted the results' version
  files           per file: checksum_valid, and the cells the viewer highlights, each with its
                  data row, the column header, the value there and the viewer's flags
  exceptions      per output, the researcher's exception the viewer read (ACRO's add_exception)
  index_status    HTTP status of the viewer's checker page for the release
  contents_status HTTP status of the viewer's download of each file (all must be 200)
"""

import csv
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sacro.settings")
# The viewer keeps its reviews beside the outputs; nothing else is written.
os.environ.setdefault("SACRO_APPDIR", tempfile.mkdtemp(prefix="sacro-"))

import django  # noqa: E402

django.setup()

from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from sacro import models, versioning  # noqa: E402


def main():
    results = Path(sys.argv[1]).resolve()
    out = {"version_ok": True}
    try:
        outputs = models.load_from_path(results)
    except (versioning.IncorrectVersionError, versioning.UnsupportedVersionFormatError) as e:
        print(json.dumps({"version_ok": False, "error": str(e)}))
        return
    files = []
    for output, metadata in outputs.items():
        for filedata in metadata["files"]:
            path = outputs.get_file_path(output, filedata["name"])
            with open(path, newline="") as f:
                table = list(csv.reader(f))
            header, rows = table[0], table[1:]
            highlighted = []
            for key, flags in filedata.get("cell_index", {}).items():
                x, y = (int(v) for v in key.split(","))
                # The viewer's table: one header row, one index column.
                inside = x < len(rows) and y + 1 < len(header)
                highlighted.append(
                    {
                        "row": x,
                        "column": header[y + 1] if inside else None,
                        "value": rows[x][y + 1] if inside else None,
                        "flags": sorted(flags),
                    }
                )
            files.append(
                {
                    "output": output,
                    "name": filedata["name"],
                    "checksum_valid": filedata["checksum_valid"],
                    "highlighted": sorted(highlighted, key=lambda h: (h["row"], h["column"] or "")),
                }
            )
    out["files"] = files
    # The researcher's case for each output, as the viewer loaded it.
    out["exceptions"] = {output: metadata.get("exception") for output, metadata in outputs.items()}
    setup_test_environment()
    client = Client()
    out["index_status"] = client.get("/checker/", {"path": str(results)}).status_code
    out["contents_status"] = [
        client.get(
            "/contents/", {"path": str(results), "output": f["output"], "filename": f["name"]}
        ).status_code
        for f in files
    ]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
