"""`manage.py ask_catalog "question" [--json] [--no-cache]`: ask the catalog AI as a customer would.

--json prints one JSON object:
{"answer": ..., "references": [{"page": N, "sku": ..., "score": ..., "image": ...}], "cached": ..., "backend": ...}
with references best first and pages counted from 1. The answer is logged in AILog like any other.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog_ai.answerer import answer_question


class Command(BaseCommand):
    help = "Answer a question from the indexed catalogs, as the AI would answer a customer."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("question", help="The customer's question.")
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")
        parser.add_argument("--no-cache", action="store_true", help="Neither read nor write the answer cache.")

    def handle(self, *args: Any, **options: Any) -> None:
        question = (options["question"] or "").strip()
        if not question:
            raise CommandError("The question is empty.")
        answer = answer_question(question, use_cache=not options["no_cache"])
        if options["json"]:
            self.stdout.write(json.dumps(answer.as_dict(), ensure_ascii=False))
            return
        self.stdout.write(answer.answer)
        self.stdout.write("")
        for ref in answer.references:
            line = f"  p.{ref.page}"
            if ref.sku:
                line += f"  {ref.sku}"
            line += f"  score {ref.score:.3f}"
            if ref.catalog:
                line += f"  [{ref.catalog}]"
            if ref.image:
                line += f"  {ref.image}"
            self.stdout.write(line)
        self.stdout.write(
            f"backend={answer.backend} cached={answer.cached} latency={answer.latency_ms} ms "
            f"tokens={answer.tokens_in}/{answer.tokens_out}"
        )
