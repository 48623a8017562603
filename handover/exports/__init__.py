"""Files for other systems, read back from the target database after a batch (``handover export ...``): the
national portal's sync records (:mod:`handover.exports.portal`) and the citizens' notices
(:mod:`handover.exports.notices`, with the applicants' contacts in :mod:`handover.exports.contacts`, the
SMS length in :mod:`handover.exports.sms` and the message templates in :mod:`handover.exports.templates`)."""
