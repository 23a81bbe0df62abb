package email

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"maps"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"
	texttemplate "text/template"

	"golang.org/x/text/language"
)

//go:embed templates
var embedded embed.FS

// A template is made of three files: name.subject and name.txt (text/template)
// and name.html (html/template, which escapes what the data brings), in
// the folder of its language: templates/en/order_shipped.txt.
var parts = []string{".subject", ".txt", ".html"}

var templateName = regexp.MustCompile(`^[a-z0-9_]+$`)

type template struct {
	name, lang string
	parsed     templateParts                     // never executed: html/template clones only what has not run
	funcs      func(language.Tag) map[string]any // for a reader of a language

	mu    sync.Mutex
	bound map[string]templateParts // by language tag: clones with a reader's functions
}

// templateParts are a template's three parts, parsed.
type templateParts struct {
	subject, text *texttemplate.Template
	html          *htmltemplate.Template
}

// maxBound is how many languages a template keeps clones for. Checkout
// takes any BCP 47 tag, so readers' languages are no closed set, though
// those a template is read in (its own, and the regional forms of it)
// are few. A reader in a language beyond them gets clones of their own.
const maxBound = 16

// catalog is every template in every language: the built-in ones, with
// what the shop's templates_dir replaces or adds.
type catalog map[string]map[string]*template // language tag -> name -> template

// lookup returns the template name for a reader of lang: in lang, else in
// the more general forms of it (de-AT, then de), else in English.
func (c catalog) lookup(name string, lang language.Tag) (*template, bool) {
	for t := lang; !t.IsRoot(); t = t.Parent() {
		if tmpl, ok := c[t.String()][name]; ok {
			return tmpl, true
		}
	}
	tmpl, ok := c[fallback][name]
	return tmpl, ok
}

// names lists the templates, each of which exists in English.
func (c catalog) names() []string {
	var out []string
	for name := range c[fallback] {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// sources holds the text of each part of each template, by language.
type sources map[string]map[string]map[string]string // lang -> name -> part -> text

// add reads the template files in folder dir of fsys as lang's.
func (src sources) add(fsys fs.FS, dir, lang string) error {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		for _, part := range parts {
			name, ok := strings.CutSuffix(e.Name(), part)
			if !ok || e.IsDir() || !templateName.MatchString(name) {
				continue
			}
			b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
			if err != nil {
				return err
			}
			if src[lang] == nil {
				src[lang] = map[string]map[string]string{}
			}
			if src[lang][name] == nil {
				src[lang][name] = map[string]string{}
			}
			src[lang][name][part] = string(b)
		}
	}
	return nil
}

// languageDirs lists the folders of fsys's root that are named by a
// language tag (de, pt-BR), with the tag each stands for; other folders
// are not templates' and are passed over.
func languageDirs(fsys fs.FS) (map[string]string, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	dirs := map[string]string{}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if tag, err := language.Parse(e.Name()); err == nil && !tag.IsRoot() {
			dirs[e.Name()] = tag.String()
		}
	}
	return dirs, nil
}

// loadTemplates parses the embedded templates of every language, each file
// of which a file of the same name and language in dir (if set) replaces:
// dir/de/order_shipped.txt replaces the German text, and a file at dir's
// top replaces the English one, as before there were languages. dir may
// add templates, and languages: a template in a language of its own must
// have its three files, and every template must exist in English, which
// readers of other languages fall back to.
// funcs gives the template functions for a reader of a language.
func loadTemplates(dir string, funcs func(language.Tag) map[string]any) (catalog, error) {
	src := sources{}
	sub, _ := fs.Sub(embedded, "templates")
	builtin, err := languageDirs(sub)
	if err == nil {
		for d, lang := range builtin {
			if err = src.add(sub, d, lang); err != nil {
				break
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("email: embedded templates: %w", err)
	}
	if dir != "" {
		fsys := os.DirFS(dir)
		err := src.add(fsys, ".", fallback)
		if err == nil {
			var dirs map[string]string
			if dirs, err = languageDirs(fsys); err == nil {
				for _, d := range slices.Sorted(maps.Keys(dirs)) {
					if err = src.add(fsys, d, dirs[d]); err != nil {
						break
					}
				}
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%w: templates_dir: %w", ErrInvalidConfig, err)
		}
	}
	out := catalog{}
	for _, lang := range slices.Sorted(maps.Keys(src)) { // the first error is always the same one
		out[lang] = map[string]*template{}
		for _, name := range slices.Sorted(maps.Keys(src[lang])) {
			t, err := parse(name, lang, src[lang][name], funcs)
			if err != nil {
				return nil, err
			}
			if _, ok := src[fallback][name]; !ok {
				return nil, fmt.Errorf("%w: template %s/%s has no English version (%s.* or en/%s.*), which readers of other languages get",
					ErrInvalidConfig, lang, name, name, name)
			}
			out[lang][name] = t
		}
	}
	return out, nil
}

// parse parses a template's three parts, which must all be there.
func parse(name, lang string, src map[string]string, funcs func(language.Tag) map[string]any) (*template, error) {
	label := name
	if lang != fallback {
		label = lang + "/" + name
	}
	for _, part := range parts {
		if _, ok := src[part]; !ok {
			return nil, fmt.Errorf("%w: template %s has no %s file", ErrInvalidConfig, label, name+part)
		}
	}
	t := &template{name: name, lang: lang, funcs: funcs, bound: map[string]templateParts{}}
	fm := funcs(language.Make(lang)) // parsing needs their names only
	p := &t.parsed
	var err error
	if p.subject, err = texttemplate.New(name + ".subject").Funcs(fm).Option("missingkey=error").Parse(src[".subject"]); err == nil {
		if p.text, err = texttemplate.New(name + ".txt").Funcs(fm).Option("missingkey=error").Parse(src[".txt"]); err == nil {
			p.html, err = htmltemplate.New(name + ".html").Funcs(fm).Option("missingkey=error").Parse(src[".html"])
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: template %s: %w", ErrInvalidConfig, label, err)
	}
	return t, nil
}

// in returns the template's parts with the functions for a reader of
// lang, cloned from the parsed ones on first use and kept: both packages
// execute a template concurrently once it is parsed (html/template
// escapes it on its first Execute), so every render in lang shares them.
func (t *template) in(lang language.Tag) (templateParts, error) {
	key := lang.String()
	t.mu.Lock()
	p, ok := t.bound[key]
	t.mu.Unlock()
	if ok {
		return p, nil
	}
	p, err := t.parsed.clone(t.funcs(lang))
	if err != nil {
		return templateParts{}, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if kept, ok := t.bound[key]; ok { // bound meanwhile by another render
		return kept, nil
	}
	if len(t.bound) < maxBound {
		t.bound[key] = p
	}
	return p, nil
}

// clone returns a copy of the parts with funcs.
func (p templateParts) clone(funcs map[string]any) (templateParts, error) {
	var c templateParts
	var err error
	if c.subject, err = p.subject.Clone(); err != nil {
		return templateParts{}, err
	}
	if c.text, err = p.text.Clone(); err != nil {
		return templateParts{}, err
	}
	if c.html, err = p.html.Clone(); err != nil {
		return templateParts{}, err
	}
	c.subject.Funcs(funcs)
	c.text.Funcs(funcs)
	c.html.Funcs(funcs)
	return c, nil
}

// rendered is an email's subject and its two bodies.
type rendered struct{ subject, text, html string }

// render decodes the job's JSON data into the template's data type and
// executes the three parts for a reader of lang. Any error is permanent:
// the same data and template fail the same way every time.
func (t *template) render(data []byte, lang language.Tag) (rendered, error) {
	v := any(new(map[string]any))
	if newData, ok := dataTypes[t.name]; ok {
		v = newData()
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return rendered{}, fmt.Errorf("decode data for %s: %w", t.name, err)
	}
	p, err := t.in(lang)
	if err != nil {
		return rendered{}, err
	}
	var subject, text, html bytes.Buffer
	if err := p.subject.Execute(&subject, v); err != nil {
		return rendered{}, err
	}
	if err := p.text.Execute(&text, v); err != nil {
		return rendered{}, err
	}
	if err := p.html.Execute(&html, v); err != nil {
		return rendered{}, err
	}
	// One line, whatever the data held: a newline would end the header.
	return rendered{subject: strings.Join(strings.Fields(subject.String()), " "), text: text.String(), html: html.String()}, nil
}
