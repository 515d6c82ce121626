"""What waits for the operators: counts for their /start. No aiogram here."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Inquiry, Registration, ReviewRound, Submission, SubmissionFile
from storage.statuses import (
    FileStatus,
    InquiryStatus,
    RegistrationStatus,
    RoundStatus,
    SubmissionStatus,
)


@dataclass(frozen=True)
class Waiting:
    registrations: int  # scans received, waiting for a decision (/pending)
    big_files: int  # files too big to check here, waiting for a check by hand (/bigfiles)
    questions: int  # questions not answered yet (/questions)
    reviews: int = 0  # review rounds waiting for reviewers or for a decision (/review_queue)

    @property
    def total(self) -> int:
        return self.registrations + self.big_files + self.questions + self.reviews


async def waiting(session: AsyncSession, reviewers: int = 2) -> Waiting:
    """The counts in one round trip (scalar subqueries), for the operators' welcome. `reviewers`:
    how many submitted reviews make a round ready for a decision (the campaign's review.reviewers)."""
    registrations = (select(func.count()).select_from(Registration)
                     .where(Registration.status == RegistrationStatus.pending_review).scalar_subquery())
    big_files = (select(func.count()).select_from(SubmissionFile).join(Submission)
                 .where(SubmissionFile.check_status == FileStatus.deep_pending,
                        Submission.status != SubmissionStatus.withdrawn).scalar_subquery())
    questions = (select(func.count()).select_from(Inquiry).where(Inquiry.status == InquiryStatus.open)
                 .scalar_subquery())
    # the round's own counters (rounds.count_assignment): no open assignment, enough reviews in
    rounds = (select(func.count()).select_from(ReviewRound).join(Submission)
              .where(Submission.status.in_([SubmissionStatus.submitted, SubmissionStatus.under_review]),
                     (ReviewRound.status == RoundStatus.waiting)
                     | ((ReviewRound.status == RoundStatus.reviewing) & (ReviewRound.assigned_count == 0)
                        & (ReviewRound.done_count >= reviewers)))
              .scalar_subquery())
    row = (await session.execute(select(registrations, big_files, questions, rounds))).one()
    return Waiting(*row)
