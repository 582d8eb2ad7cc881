-- W2's filter: reads one field of every parsed line and counts; says
-- "done N" once it counted the `expect` lines benches/w2.sh generated.
local expect = read_config("expect")
count = 0

function process_message()
    if read_message("Fields[status]") then
        count = count + 1
    end
    if count == expect then
        inject_payload("txt", "w2", "done ", count)
    end
    return 0
end
