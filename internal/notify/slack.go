package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Slack posts Block Kit messages to a Slack incoming webhook. The webhook
// URL is the credential (its path is the secret), so it is shown as
// scheme://host/<redacted> everywhere.
//
// Protocol (api.slack.com/messaging/webhooks, changelog 2016-05-17,
// api.slack.com/docs/rate-limits): POST JSON {"text", "blocks"}; 200 with
// body "ok" on success; plain-text error codes with 400 (invalid_payload),
// 403 (action_prohibited), 404 (channel_not_found), 410
// (channel_is_archived), 500 (rollup_error); 429 with Retry-After when over
// about one message a second.
type Slack struct {
	name  string
	url   string
	shown string
	opts  ChannelOptions
}

// NewSlack returns the Slack channel posting to webhookURL.
func NewSlack(name, webhookURL string, opts ChannelOptions) (*Slack, error) {
	opts = opts.withDefaults()
	u, err := url.Parse(webhookURL)
	if webhookURL == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("slack channel %s: webhook_url is not an http(s) URL (or its ${VAR} is unset)", name)
	}
	return &Slack{name: name, url: webhookURL, shown: redactPath(webhookURL), opts: opts}, nil
}

// Name is the channel's name.
func (s *Slack) Name() string { return s.name }

// Send posts m.
func (s *Slack) Send(ctx context.Context, m Message) error {
	body, err := json.Marshal(SlackPayload(m))
	if err != nil {
		return Permanent(fmt.Errorf("slack: encode message: %w", err))
	}
	hdr := http.Header{"Content-Type": {"application/json"}}
	status, rh, rb, err := httpPost(ctx, s.opts.HTTPClient, s.opts.Timeout, s.url, s.shown, hdr, body)
	if err != nil {
		return err
	}
	if err := classifyHTTP("slack", status, rh, rb, s.opts.Now()); err != nil {
		return err
	}
	if status == http.StatusOK && strings.TrimSpace(string(rb)) != "ok" && len(rb) > 0 {
		// Slack answers exactly "ok"; anything else at 200 is not Slack.
		return Permanent(errors.New("slack answered 200 without \"ok\": " + bodySnippet(rb)))
	}
	return nil
}

// SlackText is a Block Kit text object.
type SlackText struct {
	Type  string `json:"type"`
	Text  string `json:"text"`
	Emoji bool   `json:"emoji,omitempty"`
}

// SlackBlock is a Block Kit layout block (header, section, context).
type SlackBlock struct {
	Type     string      `json:"type"`
	Text     *SlackText  `json:"text,omitempty"`
	Fields   []SlackText `json:"fields,omitempty"`
	Elements []SlackText `json:"elements,omitempty"`
}

// SlackMessage is the body of an incoming-webhook post.
type SlackMessage struct {
	Text   string       `json:"text"`
	Blocks []SlackBlock `json:"blocks"`
}

// Block Kit limits (api.slack.com/reference/block-kit/blocks).
const (
	slackHeaderMax  = 150
	slackSectionMax = 3000
	slackFieldMax   = 2000
)

// SlackPayload is the Block Kit message for m: a header with severity and
// code, the drift's place, expected and observed side by side, what the
// reconciler did, and a link to the dashboard. The top-level text is the
// notification fallback.
func SlackPayload(m Message) SlackMessage {
	title := m.title()
	out := SlackMessage{Text: truncate(title, slackSectionMax)}
	header := fmt.Sprintf("%s %s · %s · %s", severityEmoji(m), strings.ToUpper(string(m.Severity)), m.Code, m.kindPhrase())
	if m.Kind == KindDigest {
		header = fmt.Sprintf("%s %s · digest of held-back notifications", severityEmoji(m), strings.ToUpper(string(m.Severity)))
	}
	out.Blocks = append(out.Blocks, SlackBlock{Type: "header",
		Text: &SlackText{Type: "plain_text", Text: truncate(header, slackHeaderMax), Emoji: true}})

	if m.Kind == KindDigest && m.Digest != nil {
		lines := digestLines(m.Digest)
		for i := range lines {
			lines[i] = "• " + slackEscape(lines[i])
		}
		text := fmt.Sprintf("*%d notifications for %s* were held back by this channel's rate limit since %s:\n%s",
			m.Digest.Held, slackEscape(m.ClientID), m.Digest.Since.UTC().Format("2006-01-02 15:04:05Z"),
			strings.Join(lines, "\n"))
		out.Blocks = append(out.Blocks, SlackBlock{Type: "section",
			Text: &SlackText{Type: "mrkdwn", Text: truncate(text, slackSectionMax)}})
	} else {
		where := fmt.Sprintf("*Client* %s · *Stack* %s · *Component* `%s` · *Type* %s",
			slackEscape(m.ClientID), slackEscape(m.StackID), slackEscape(m.Component), slackEscape(string(m.DriftType)))
		if m.Cause != "" {
			where += "\n*Upstream cause* `" + slackEscape(m.Cause) + "`"
		}
		out.Blocks = append(out.Blocks,
			SlackBlock{Type: "section", Text: &SlackText{Type: "mrkdwn", Text: truncate(where, slackSectionMax)}},
			SlackBlock{Type: "section", Fields: []SlackText{
				{Type: "mrkdwn", Text: truncate("*Expected*\n"+slackCode(formatValue(m.Expected)), slackFieldMax)},
				{Type: "mrkdwn", Text: truncate("*Observed*\n"+slackCode(formatValue(m.Observed)), slackFieldMax)},
			}},
			SlackBlock{Type: "section", Text: &SlackText{Type: "mrkdwn",
				Text: truncate("*What the reconciler did*\n"+slackEscape(m.actionText()), slackSectionMax)}},
		)
	}
	var ctx []string
	if m.DashboardURL != "" {
		ctx = append(ctx, "<"+slackLink(m.DashboardURL)+"|Open in the dashboard>")
	}
	if m.ReconciliationID != "" {
		ctx = append(ctx, "reconciliation `"+slackEscape(m.ReconciliationID)+"`")
	}
	ctx = append(ctx, "key `"+slackEscape(m.IdempotencyKey)+"`")
	out.Blocks = append(out.Blocks, SlackBlock{Type: "context",
		Elements: []SlackText{{Type: "mrkdwn", Text: truncate(strings.Join(ctx, " · "), slackSectionMax)}}})
	return out
}

func severityEmoji(m Message) string {
	if m.Kind == KindResolved || m.Kind == KindForecastCleared {
		return ":white_check_mark:"
	}
	switch m.Severity {
	case "critical":
		return ":red_circle:"
	case "high":
		return ":large_orange_circle:"
	case "medium":
		return ":large_yellow_circle:"
	}
	return ":large_blue_circle:"
}

// slackEscape escapes the three characters mrkdwn gives meaning to
// (api.slack.com/reference/surfaces/formatting#escaping).
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// slackCode puts s in a code block, which cannot itself hold ```.
func slackCode(s string) string {
	return "```" + strings.ReplaceAll(slackEscape(s), "```", "`‵`") + "```"
}

// slackLink escapes a URL for <url|text>: | and > would end it, and & is
// escaped as in all mrkdwn text (Slack unescapes it in the link).
func slackLink(u string) string {
	return strings.NewReplacer("&", "&amp;", "|", "%7C", ">", "%3E", "<", "%3C").Replace(u)
}
