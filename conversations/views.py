from django.contrib.auth.mixins import LoginRequiredMixin
from django.views.generic import TemplateView

from conversations.selectors import console_summary


class HomeView(LoginRequiredMixin, TemplateView):
    """The agent console's home: an honest summary until the live console lands."""

    template_name = "home.html"

    def get_context_data(self, **kwargs: object) -> dict:
        context = super().get_context_data(**kwargs)
        # The simulator's test chats stay out of the list and counts unless asked for (?test_chats=1).
        include_test_chats = self.request.GET.get("test_chats") == "1"
        context["summary"] = console_summary(user=self.request.user, include_test_chats=include_test_chats)
        return context
