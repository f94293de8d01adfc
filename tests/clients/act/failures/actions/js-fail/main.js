console.log("jsfail about to fail");
console.log("::error title=js-fail::something broke");
process.exitCode = 2;
