"""An e-mail backend for the worker tests: says when it starts sending, then takes its time (long enough for
the test to kill the worker in the middle of the task), then writes the message like the file backend."""

import os
import time
from pathlib import Path

from django.core.mail.backends.filebased import EmailBackend


class SlowFileBackend(EmailBackend):
    def send_messages(self, email_messages):
        Path(os.environ["SLOW_MAIL_MARKER"]).write_text("sending")
        time.sleep(float(os.environ.get("SLOW_MAIL_SECONDS", "0")))
        return super().send_messages(email_messages)
