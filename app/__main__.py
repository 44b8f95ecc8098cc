"""``python -m app``: open the persona's window."""
import sys

from app.qt_env import check_qt_libraries, prepare_qt_env

prepare_qt_env()  # before anything imports Qt (cv2's plugin paths must not leak into PySide6)
_missing = check_qt_libraries()  # Qt would abort with a misleading "xcb-cursor0 is needed" otherwise
if _missing:
    print(f"error: {_missing}", file=sys.stderr)
    sys.exit(2)

from app.main_window import main  # noqa: E402

sys.exit(main())
