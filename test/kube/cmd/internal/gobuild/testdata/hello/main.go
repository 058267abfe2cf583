// Command hello is what gobuild's test builds.
package main

func main() { println("hello") }
