// The admin shows and takes every date in the business's time zone (BUSINESS_TIME_ZONE), said once in
// the page footer. Django's per-field "you are N hours ahead of the server" notes would only confuse an
// agent in another time zone, so they are not added; "Now" and the calendar still use the business's
// clock (DateTimeShortcuts.now reads the page's data-admin-utc-offset).
(function () {
  "use strict";
  if (window.DateTimeShortcuts) {
    window.DateTimeShortcuts.addTimezoneWarning = function () {};
  }
})();
