/* cldim data: describe a dataset, write a contact sheet, benchmark loading. */
#ifndef CLDIM_CMD_DATA_H
#define CLDIM_CMD_DATA_H

int cmd_data(int argc, char **argv);

#endif
