"""What waits for the operators: counts for their /start. No aiogram here."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Inquiry, Registration, Submission, SubmissionFile
from storage.statuses import FileStatus, InquiryStatus, RegistrationStatus, SubmissionStatus


@dataclass(frozen=True)
class Waiting:
    registrations: int  # scans received, waiting for a decision (/pending)
    big_files: int  # files too big to check here, waiting for a check by hand (/bigfiles)
    questions: int  # questions not answered yet (/questions)

    @property
    def total(self) -> int:
        return self.registrations + self.big_files + self.questions


async def waiting(session: AsyncSession) -> Waiting:
    """The three counts in one round trip (scalar subqueries), for the operators' welcome."""
    registrations = (select(func.count()).select_from(Registration)
                     .where(Registration.status == RegistrationStatus.pending_review).scalar_subquery())
    big_files = (select(func.count()).select_from(SubmissionFile).join(Submission)
                 .where(SubmissionFile.check_status == FileStatus.deep_pending,
                        Submission.status != SubmissionStatus.withdrawn).scalar_subquery())
    questions = (select(func.count()).select_from(Inquiry).where(Inquiry.status == InquiryStatus.open)
                 .scalar_subquery())
    row = (await session.execute(select(registrations, big_files, questions))).one()
    return Waiting(*row)
