package config

import "fmt"

// NamedChannel names one notification channel of a config and its type,
// never its secrets.
type NamedChannel struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// AllChannels lists the channels a config declares: its NotificationChannel
// documents, then each policy's inline channels, named as the server names
// them (CLIENT/STACK/INDEX-TYPE, STACK "*" for a client-wide policy). A
// policy's ref to a NotificationChannel is not another channel.
func (c *Config) AllChannels() []NamedChannel {
	out := make([]NamedChannel, 0, len(c.Channels))
	for _, ch := range c.Channels {
		out = append(out, NamedChannel{Name: ch.Metadata.Name, Type: ch.Spec.Type})
	}
	for _, p := range c.Policies {
		for i, ch := range p.Spec.Notifications.Channels {
			if ch.Ref != "" {
				continue
			}
			stack := p.Metadata.StackID
			if stack == "" {
				stack = "*"
			}
			out = append(out, NamedChannel{Name: fmt.Sprintf("%s/%s/%d-%s", p.Metadata.ClientID, stack, i, ch.Type), Type: ch.Type})
		}
	}
	return out
}
