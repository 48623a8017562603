"""Files made from a batch's loaded rows for the world around the target: the national portal's sync records
(:mod:`handover.exports.portal`) and the citizens' notices (:mod:`handover.exports.notices`)."""
