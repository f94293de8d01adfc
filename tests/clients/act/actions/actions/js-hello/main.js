// No toolkit: inputs from INPUT_*, file commands by hand.
const fs = require("fs");
const name = process.env.INPUT_NAME;
const times = parseInt(process.env.INPUT_TIMES, 10);
for (let i = 1; i <= times; i++) console.log(`js-hello ${i}/${times} ${name}`);
fs.appendFileSync(process.env.GITHUB_OUTPUT, `shout=${name.toUpperCase()}\n`);
fs.appendFileSync(process.env.GITHUB_STATE, `started=${name}\n`);
fs.appendFileSync(process.env.GITHUB_ENV, `FROM_JS=set-by-${name}\n`);
console.log(`js-hello node major ${process.versions.node.split(".")[0]} action path ok=${fs.existsSync(__dirname + "/action.yml")}`);
