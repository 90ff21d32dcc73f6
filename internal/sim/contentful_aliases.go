package sim

// Contentful environment aliases, after
// https://www.contentful.com/developers/docs/references/content-management-api/#/reference/environment-aliases
// (GET /spaces/{space_id}/environment_aliases, a collection;
// GET /spaces/{space_id}/environment_aliases/{alias_id};
// PUT /spaces/{space_id}/environment_aliases/{alias_id} with the body
// {"environment":{"sys":{"type":"Link","linkType":"Environment","id"}}}:
// a PUT to an existing alias must carry its version in
// X-Contentful-Version (409 VersionMismatch otherwise); an alias must
// target an existing environment (422 otherwise). The resource is
// {"sys":{"type":"EnvironmentAlias","id","version","space"},
// "environment":{"sys":{Link}}}. The space's environments are what the
// test declares with AddEnvironment; "master" exists from the start.

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
)

// ContentfulAlias is an environment alias the fake holds.
type ContentfulAlias struct {
	ID          string
	Version     int
	Environment string
}

// AddEnvironment declares an environment of the space (an alias may
// target it).
func (c *Contentful) AddEnvironment(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.environmentsLocked()[id] = true
}

func (c *Contentful) environmentsLocked() map[string]bool {
	if c.environments == nil {
		c.environments = map[string]bool{"master": true}
	}
	return c.environments
}

// SetAlias points an alias at an environment as the web app would (the
// environment is declared if it was not), creating the alias at version
// 1 or bumping its version.
func (c *Contentful) SetAlias(id, environment string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.environmentsLocked()[environment] = true
	c.setAliasLocked(id, environment)
}

func (c *Contentful) setAliasLocked(id, environment string) ContentfulAlias {
	if c.aliases == nil {
		c.aliases = map[string]*ContentfulAlias{}
	}
	a, ok := c.aliases[id]
	if !ok {
		a = &ContentfulAlias{ID: id}
		c.aliases[id] = a
	}
	a.Version++
	a.Environment = environment
	return *a
}

// Alias returns an alias, and whether it exists.
func (c *Contentful) Alias(id string) (ContentfulAlias, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.aliases[id]
	if !ok {
		return ContentfulAlias{}, false
	}
	return *a, true
}

func (c *Contentful) aliasResource(a ContentfulAlias) map[string]any {
	link := func(typ, id string) map[string]any {
		return map[string]any{"sys": map[string]any{"type": "Link", "linkType": typ, "id": id}}
	}
	return map[string]any{
		"sys":         map[string]any{"type": "EnvironmentAlias", "id": a.ID, "version": a.Version, "space": link("Space", c.opts.SpaceID)},
		"environment": link("Environment", a.Environment),
	}
}

func (c *Contentful) listAliases(w http.ResponseWriter, r *http.Request) {
	if !c.space(w, r) {
		return
	}
	c.mu.Lock()
	ids := make([]string, 0, len(c.aliases))
	for id := range c.aliases {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	items := make([]map[string]any, 0, len(ids))
	for _, id := range ids {
		items = append(items, c.aliasResource(*c.aliases[id]))
	}
	c.mu.Unlock()
	contentfulJSON(w, http.StatusOK, map[string]any{
		"sys": map[string]any{"type": "Array"}, "total": len(items), "skip": 0, "limit": 100, "items": items,
	})
}

func (c *Contentful) getAlias(w http.ResponseWriter, r *http.Request) {
	if !c.space(w, r) {
		return
	}
	a, ok := c.Alias(r.PathValue("alias"))
	if !ok {
		c.errorAnswer(w, http.StatusNotFound, "NotFound", "The resource could not be found.",
			map[string]any{"type": "EnvironmentAlias", "id": r.PathValue("alias")})
		return
	}
	contentfulJSON(w, http.StatusOK, c.aliasResource(a))
}

func (c *Contentful) putAlias(w http.ResponseWriter, r *http.Request) {
	if !c.space(w, r) {
		return
	}
	var body struct {
		Environment struct {
			Sys struct {
				Type, LinkType, ID string
			} `json:"sys"`
		} `json:"environment"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&body); err != nil {
		c.errorAnswer(w, http.StatusBadRequest, "BadRequest", "The body is not valid JSON.", nil)
		return
	}
	env := body.Environment.Sys
	if env.Type != "Link" || env.LinkType != "Environment" || env.ID == "" {
		c.errorAnswer(w, http.StatusUnprocessableEntity, "ValidationFailed", "environment must be a Link to an Environment", nil)
		return
	}
	id, version := r.PathValue("alias"), r.Header.Get("X-Contentful-Version")
	c.mu.Lock()
	cur, exists := c.aliases[id]
	switch {
	case !c.environmentsLocked()[env.ID]:
		c.mu.Unlock()
		c.errorAnswer(w, http.StatusUnprocessableEntity, "ValidationFailed", "The target environment does not exist.",
			map[string]any{"type": "Environment", "id": env.ID})
	case exists && version != strconv.Itoa(cur.Version):
		c.mu.Unlock()
		c.errorAnswer(w, http.StatusConflict, "VersionMismatch", "", nil)
	default:
		a := c.setAliasLocked(id, env.ID)
		c.mu.Unlock()
		status := http.StatusOK
		if !exists {
			status = http.StatusCreated
		}
		contentfulJSON(w, status, c.aliasResource(a))
	}
}
