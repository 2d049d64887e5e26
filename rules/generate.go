package rules

// The generated files are golden files of TestGeneratedFiles.
//go:generate env UPDATE_GOLDEN=1 go test -run TestGeneratedFiles .
