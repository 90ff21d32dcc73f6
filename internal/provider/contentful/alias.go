package contentful

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/blackwellio/blackwell/internal/provider"
)

// Environment aliases, after
// https://www.contentful.com/developers/docs/references/content-management-api/#/reference/environment-aliases:
// GET /spaces/{space_id}/environment_aliases/{alias_id} answers
// {"sys":{"id","version"},"environment":{"sys":{"id"}}}; PUT of the same
// path with {"environment":{"sys":{"type":"Link","linkType":"Environment",
// "id"}}} and X-Contentful-Version retargets it. The binding names its
// alias in settings.environment_alias (the one its site reads content
// through, typically master).

// AliasSetting is the binding setting that names the stack's alias.
const AliasSetting = "environment_alias"

type aliasResource struct {
	Sys struct {
		ID      string `json:"id"`
		Version int    `json:"version"`
	} `json:"sys"`
	Environment struct {
		Sys struct {
			ID string `json:"id"`
		} `json:"sys"`
	} `json:"environment"`
}

func aliasURL(b provider.Binding) (string, string, error) {
	alias := b.Setting(AliasSetting, "")
	space := b.Setting("space_id", "")
	if alias == "" || space == "" {
		return "", "", provider.ConfigError("contentful binding names no settings.%s (or settings.space_id)", AliasSetting)
	}
	return alias, b.APIBase(DefaultAPIBase) + "/spaces/" + url.PathEscape(space) + "/environment_aliases/" + url.PathEscape(alias), nil
}

func (d *Driver) readAlias(ctx context.Context, b provider.Binding) (aliasResource, error) {
	alias, u, err := aliasURL(b)
	if err != nil {
		return aliasResource{}, err
	}
	resp, err := d.do(ctx, b, http.MethodGet, u, nil, 0)
	if err != nil {
		return aliasResource{}, fmt.Errorf("read contentful environment alias %s: %w", alias, err)
	}
	var a aliasResource
	if err := resp.Decode(&a); err != nil {
		return aliasResource{}, fmt.Errorf("read contentful environment alias %s: %w", alias, err)
	}
	return a, nil
}

// AliasTarget returns the binding's alias and the environment it targets.
// ErrConfig when the binding names no alias.
func (d *Driver) AliasTarget(ctx context.Context, b provider.Binding) (string, string, error) {
	a, err := d.readAlias(ctx, b)
	if err != nil {
		return "", "", err
	}
	return b.Setting(AliasSetting, ""), a.Environment.Sys.ID, nil
}

// SetAliasTarget points the binding's alias at environment (nothing is
// written when it targets it already). A version conflict (someone moved
// it meanwhile) is retried once with the fresh version.
func (d *Driver) SetAliasTarget(ctx context.Context, b provider.Binding, environment string) error {
	alias, u, err := aliasURL(b)
	if err != nil {
		return err
	}
	body := provider.JSON(map[string]any{"environment": map[string]any{"sys": map[string]any{
		"type": "Link", "linkType": "Environment", "id": environment}}})
	for attempt := 0; ; attempt++ {
		cur, err := d.readAlias(ctx, b)
		if err != nil {
			return err
		}
		if cur.Environment.Sys.ID == environment {
			return nil
		}
		_, err = d.do(ctx, b, http.MethodPut, u, body, cur.Sys.Version)
		var serr *provider.StatusError
		if errors.As(err, &serr) && serr.Status == http.StatusConflict && attempt == 0 {
			continue
		}
		if err != nil {
			return fmt.Errorf("point contentful environment alias %s at %s: %w", alias, environment, err)
		}
		return nil
	}
}
