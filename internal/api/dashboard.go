package api

import "net/http"

// dashboardPage answers GET /: the dashboard (internal/web).
func (s *Server) dashboardPage(w http.ResponseWriter, r *http.Request) error {
	s.ui.ServePage(w, r)
	return nil
}

// dashboardAsset answers GET /ui/{file}: the dashboard's script,
// stylesheet and icon; 404 for any other name.
func (s *Server) dashboardAsset(w http.ResponseWriter, r *http.Request) error {
	if !s.ui.ServeAsset(w, r, r.PathValue("file")) {
		return notFound("no dashboard file %q", r.PathValue("file"))
	}
	return nil
}
