package dashboards

// The generated JSON files are golden files of TestGeneratedFiles.
//go:generate env UPDATE_GOLDEN=1 go test -run TestGeneratedFiles .
