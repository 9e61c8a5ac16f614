"""Scheduled runs of any task type: once or recurring, submitted when due through the normal submit path.

* ``timing``: when (ISO-8601 times, cron expressions in a time zone, DST) and the spec's messages.
* ``recipients``: who a recurring report's link may be mailed to.
* ``service``: create, list, edit, delete (the generic routes and ``schedule_task`` for email).
* ``runner``: what the scheduler function does every minute.
"""
