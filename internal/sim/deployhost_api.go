package sim

// The three flavours of DeployHost's API (see deployhost.go for the
// documents they follow).

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// --- Netlify ---

func (h *DeployHost) netlifyDeploy(d SimDeploy) map[string]any {
	state := "ready"
	if !d.Ready {
		state = "error"
	}
	return map[string]any{"id": d.ID, "site_id": h.opts.Site, "state": state, "context": "production",
		"commit_ref": d.Commit, "created_at": d.CreatedAt.Format(time.RFC3339Nano),
		"deploy_url": "https://" + d.ID + "--" + h.opts.Site + ".netlify.app"}
}

func (h *DeployHost) netlifySiteOK(w http.ResponseWriter, r *http.Request) bool {
	if r.PathValue("site") != h.opts.Site {
		h.fail(w, http.StatusNotFound, "Not Found")
		return false
	}
	return true
}

func (h *DeployHost) netlifySite(w http.ResponseWriter, r *http.Request) {
	if !h.netlifySiteOK(w, r) {
		return
	}
	site := map[string]any{"id": h.opts.Site, "name": h.opts.Site, "url": "https://" + h.opts.Site + ".netlify.app"}
	if live := h.Live(); live.ID != "" {
		site["published_deploy"] = h.netlifyDeploy(live)
	}
	genericJSON(w, http.StatusOK, site)
}

func (h *DeployHost) netlifyList(w http.ResponseWriter, r *http.Request) {
	if !h.netlifySiteOK(w, r) {
		return
	}
	p, per, ok := page(r, 100)
	if !ok {
		h.fail(w, http.StatusUnprocessableEntity, "page and per_page must be positive integers (per_page at most 100)")
		return
	}
	all := h.newestFirst()
	items := []map[string]any{}
	for i := (p - 1) * per; i < len(all) && i < p*per; i++ {
		items = append(items, h.netlifyDeploy(all[i]))
	}
	if p*per < len(all) {
		next := fmt.Sprintf("%s/api/v1/sites/%s/deploys?page=%d&per_page=%d", h.srv.url, h.opts.Site, p+1, per)
		w.Header().Set("Link", "<"+next+`>; rel="next"`)
	}
	genericJSON(w, http.StatusOK, items)
}

func (h *DeployHost) netlifyRestore(w http.ResponseWriter, r *http.Request) {
	if !h.netlifySiteOK(w, r) {
		return
	}
	d, ok := h.rollTo(w, r.PathValue("id"), false)
	if !ok {
		return
	}
	genericJSON(w, http.StatusOK, h.netlifyDeploy(d))
}

// --- Vercel ---

func (h *DeployHost) vercelDeployment(d SimDeploy) map[string]any {
	state := "READY"
	if !d.Ready {
		state = "ERROR"
	}
	return map[string]any{"uid": d.ID, "name": h.opts.Site, "url": h.opts.Site + "-" + d.ID + ".vercel.app",
		"created": d.CreatedAt.UnixMilli(), "state": state, "readyState": state, "target": "production",
		"meta": map[string]any{"githubCommitSha": d.Commit}}
}

func (h *DeployHost) vercelProjectOK(w http.ResponseWriter, r *http.Request) bool {
	if r.PathValue("project") != h.opts.Site {
		h.fail(w, http.StatusNotFound, "Project not found")
		return false
	}
	return true
}

func (h *DeployHost) vercelProject(w http.ResponseWriter, r *http.Request) {
	if !h.vercelProjectOK(w, r) {
		return
	}
	project := map[string]any{"id": h.opts.Site, "name": h.opts.Site, "targets": map[string]any{}}
	if live := h.Live(); live.ID != "" {
		d := h.vercelDeployment(live)
		d["id"] = live.ID
		project["targets"] = map[string]any{"production": d}
	}
	genericJSON(w, http.StatusOK, project)
}

func (h *DeployHost) vercelList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("projectId") != h.opts.Site {
		genericJSON(w, http.StatusOK, map[string]any{"deployments": []any{}, "pagination": map[string]any{"count": 0, "next": nil, "prev": nil}})
		return
	}
	limit := 20
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			h.fail(w, http.StatusBadRequest, "limit must be between 1 and 100")
			return
		}
		limit = n
	}
	var until int64 = 1<<63 - 1
	if v := q.Get("until"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			h.fail(w, http.StatusBadRequest, "until must be a timestamp in milliseconds")
			return
		}
		until = n
	}
	items, next := []map[string]any{}, any(nil)
	for _, d := range h.newestFirst() {
		if d.CreatedAt.UnixMilli() >= until {
			continue
		}
		if len(items) == limit {
			next = d.CreatedAt.UnixMilli() + 1
			break
		}
		items = append(items, h.vercelDeployment(d))
	}
	genericJSON(w, http.StatusOK, map[string]any{"deployments": items, "pagination": map[string]any{"count": len(items), "next": next, "prev": nil}})
}

func (h *DeployHost) vercelRollback(w http.ResponseWriter, r *http.Request) {
	if !h.vercelProjectOK(w, r) {
		return
	}
	if _, ok := h.rollTo(w, r.PathValue("id"), true); ok {
		w.WriteHeader(http.StatusCreated)
	}
}

func (h *DeployHost) vercelPromote(w http.ResponseWriter, r *http.Request) {
	if !h.vercelProjectOK(w, r) {
		return
	}
	if _, ok := h.rollTo(w, r.PathValue("id"), false); ok {
		w.WriteHeader(http.StatusCreated)
	}
}

// --- Cloudflare Pages ---

func (h *DeployHost) cfDeployment(d SimDeploy) map[string]any {
	status := "success"
	if !d.Ready {
		status = "failure"
	}
	return map[string]any{"id": d.ID, "short_id": d.ID[:min(8, len(d.ID))], "project_name": h.opts.Site,
		"environment": "production", "url": "https://" + d.ID + "." + h.opts.Site + ".pages.dev",
		"created_on":         d.CreatedAt.Format(time.RFC3339Nano),
		"latest_stage":       map[string]any{"name": "deploy", "status": status},
		"deployment_trigger": map[string]any{"type": "ad_hoc", "metadata": map[string]any{"commit_hash": d.Commit}}}
}

func cfOK(w http.ResponseWriter, result any, info map[string]any) {
	body := map[string]any{"success": true, "errors": []any{}, "messages": []any{}, "result": result}
	if info != nil {
		body["result_info"] = info
	}
	genericJSON(w, http.StatusOK, body)
}

func (h *DeployHost) cfProjectOK(w http.ResponseWriter, r *http.Request) bool {
	if r.PathValue("account") != h.opts.Account || r.PathValue("project") != h.opts.Site {
		h.fail(w, http.StatusNotFound, "Project not found. The specified project name does not match any of your existing projects.")
		return false
	}
	return true
}

func (h *DeployHost) cfProject(w http.ResponseWriter, r *http.Request) {
	if !h.cfProjectOK(w, r) {
		return
	}
	project := map[string]any{"name": h.opts.Site, "subdomain": h.opts.Site + ".pages.dev", "production_branch": "main"}
	if live := h.Live(); live.ID != "" {
		project["canonical_deployment"] = h.cfDeployment(live)
	}
	if all := h.newestFirst(); len(all) > 0 {
		project["latest_deployment"] = h.cfDeployment(all[0])
	}
	cfOK(w, project, nil)
}

func (h *DeployHost) cfList(w http.ResponseWriter, r *http.Request) {
	if !h.cfProjectOK(w, r) {
		return
	}
	p, per, ok := page(r, 25)
	if !ok {
		h.fail(w, http.StatusBadRequest, "page and per_page must be positive integers (per_page at most 100)")
		return
	}
	all := h.newestFirst()
	items := []map[string]any{}
	for i := (p - 1) * per; i < len(all) && i < p*per; i++ {
		items = append(items, h.cfDeployment(all[i]))
	}
	cfOK(w, items, map[string]any{"page": p, "per_page": per, "count": len(items), "total_count": len(all)})
}

func (h *DeployHost) cfRollback(w http.ResponseWriter, r *http.Request) {
	if !h.cfProjectOK(w, r) {
		return
	}
	if d, ok := h.rollTo(w, r.PathValue("id"), false); ok {
		cfOK(w, h.cfDeployment(d), nil)
	}
}
