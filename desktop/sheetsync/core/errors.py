"""The errors a user can see, in one tree.

Every error the core raises for a user to read is a :class:`SheetSyncError`. Its
``str()`` says what happened and what to do; ``details`` holds technical text for a
folded "Details" section or ``--debug``. Lower-level errors (zip, XML, httpx,
keyring) are translated at the boundary of the module that meets them.

    SheetSyncError
    ├── InputError                 bad input; the command line exits 2
    │   ├── WorkbookError          cannot open or read the workbook
    │   ├── MappingError           a mapping file or column choice is wrong
    │   └── JobConfigError         campaign ID, base URL, batch size...
    ├── CredentialError            no API key, or no keyring to keep one in
    ├── ApiError                   what the campaign API answered
    │   ├── JobStopped             the whole job must stop; exit 3
    │   │   ├── KeyRefused         401/403
    │   │   ├── CampaignNotFound   404
    │   │   └── ServerUnavailable  retries exhausted (429/5xx/network)
    │   └── BatchFailed            only this batch failed; the job goes on
    │       ├── BatchRejected      400/422 and other client errors
    │       ├── BatchTooLarge      413: the engine splits the batch
    │       ├── OutcomeUnknown     sent, but no answer: never re-sent by itself
    │       └── BadResponse        an answer that is not the contract's JSON
    └── SaveError                  results could not be written into the workbook
"""

from __future__ import annotations


class SheetSyncError(Exception):
    """Base of every error meant for the user."""

    exit_code = 2

    def __init__(self, message: str, *, details: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message


class InputError(SheetSyncError):
    exit_code = 2


class WorkbookError(InputError):
    pass


class MappingError(InputError):
    pass


class JobConfigError(InputError):
    pass


class CredentialError(SheetSyncError):
    exit_code = 2


class ApiError(SheetSyncError):
    exit_code = 3

    def __init__(
        self, message: str, *, status_code: int | None = None, details: str | None = None
    ) -> None:
        super().__init__(message, details=details)
        self.status_code = status_code


class JobStopped(ApiError):
    """The job cannot go on: no further batch is sent."""


class KeyRefused(JobStopped):
    pass


class CampaignNotFound(JobStopped):
    pass


class ServerUnavailable(JobStopped):
    pass


class BatchFailed(ApiError):
    """This batch failed; its rows get status ``error`` and the job goes on."""


class BatchRejected(BatchFailed):
    pass


class BatchTooLarge(BatchFailed):
    pass


class OutcomeUnknown(BatchFailed):
    """The request was sent but no answer came back: the server may have processed it."""


class BadResponse(BatchFailed):
    pass


class SaveError(SheetSyncError):
    """The workbook could not be written; ``results_path`` holds the results instead."""

    exit_code = 1

    def __init__(
        self, message: str, *, results_path: str | None = None, details: str | None = None
    ) -> None:
        super().__init__(message, details=details)
        self.results_path = results_path
