package web

// StatusOf is the HTTP status that answers err: the mapping behind the
// API's problem responses, so that the dashboard's HTML error pages agree
// with it instead of keeping a second one.
func StatusOf(err error) int { return statusOf(err) }
